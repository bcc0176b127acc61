"""A local stand-in for a captcha provider's siteverify endpoint, over real HTTP.

It speaks the protocol Turnstile, hCaptcha and reCAPTCHA share: a form-encoded POST of ``secret``,
``response`` and ``remoteip``, answered with JSON ``{"success": ..., "error-codes": [...]}``.
Tokens in ``valid_tokens`` pass once each (tokens are single-use); a wrong secret gets
``invalid-input-secret``. ``outage`` makes it fail the way providers do: a 5xx, a page that is not
JSON, or no answer in time.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from tests.support.servers import LocalServer

STUB_SECRET = "0x4AAAAAAAstub-captcha-secret"
GOOD_TOKEN = "XXXX.DUMMY.TOKEN.XXXX"

Outage = Literal["none", "http-500", "not-json", "stall"]


class SiteverifyStub:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.valid_tokens: set[str] = {GOOD_TOKEN}
        self.outage: Outage = "none"
        self.stall_seconds = 3.0
        self._server: LocalServer | None = None

    def __enter__(self) -> SiteverifyStub:
        self._server = LocalServer(self._wsgi, "siteverify-stub")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/siteverify"

    def reset(self) -> None:
        self.received.clear()
        self.valid_tokens = {GOOD_TOKEN}
        self.outage = "none"

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append(
            {"content_type": request.mimetype, "method": request.method, **request.form}
        )
        response = self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if self.outage == "http-500":
            return Response("upstream failure", status=500)
        if self.outage == "not-json":
            return Response("<html>maintenance</html>", content_type="text/html")
        if self.outage == "stall":
            time.sleep(self.stall_seconds)
        if request.method != "POST" or request.mimetype != "application/x-www-form-urlencoded":
            return self._json(False, ["bad-request"])
        if request.form.get("secret") != STUB_SECRET:
            return self._json(False, ["invalid-input-secret"])
        token = request.form.get("response", "")
        if not token:
            return self._json(False, ["missing-input-response"])
        if token not in self.valid_tokens:
            return self._json(False, ["invalid-input-response"])
        self.valid_tokens.discard(token)
        return self._json(True, [])

    @staticmethod
    def _json(success: bool, codes: list[str]) -> Response:
        body = {"success": success, "error-codes": codes}
        if success:
            body.update(challenge_ts="2024-01-01T00:00:00Z", hostname="signup.example")
        return Response(json.dumps(body), content_type="application/json")
