"""A local stand-in for the Pwned Passwords range API, over real HTTP.

It speaks the real format: ``GET /range/<5 hex>`` is answered 200 ``text/plain`` with one
``SUFFIX:COUNT`` line per breached SHA-1 hash starting with that prefix (the other 35 hex
characters in uppercase, and how often the password was seen), joined by CRLF and sorted by
suffix. A request with ``Add-Padding: true`` also gets padding lines, random suffixes with a count
of 0, so that every answer has 800 to 1000 lines; they are sorted in among the real ones. The
breached hashes come from ``breached`` (password -> count). ``outage`` makes it fail the way an
API does: a 5xx, a page that is not the range format, or no answer in time.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from tests.support.servers import LocalServer

DEFAULT_BREACHED = {"Password1!": 262_000, "password": 10_000_000, "Rarely-seen-7": 2}
PADDED_LINES = (800, 1000)

Outage = Literal["none", "http-500", "not-text", "stall"]

_PATH = re.compile(r"^/range/(?P<prefix>[0-9A-Fa-f]{5})$")


def sha1_hex(password: str) -> str:
    """The password's SHA-1 in uppercase hex, as the range API keys its corpus."""
    return hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


class PwnedRangeServer:
    def __init__(self, port: int = 0) -> None:
        self.breached: dict[str, int] = dict(DEFAULT_BREACHED)
        self.received: list[dict[str, Any]] = []
        # Suffixes every padded answer carries as padding (count 0), whatever the prefix.
        self.padding_suffixes: set[str] = set()
        self.outage: Outage = "none"
        self.stall_seconds = 3.0
        self._port = port
        self._random = random.Random()
        self._server: LocalServer | None = None

    def __enter__(self) -> PwnedRangeServer:
        self._server = LocalServer(self._wsgi, "pwned-range", self._port)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}/range/"

    def add(self, password: str, count: int) -> None:
        self.breached[password] = count

    def reset(self) -> None:
        self.breached = dict(DEFAULT_BREACHED)
        self.received.clear()
        self.padding_suffixes.clear()
        self.outage = "none"
        self.stall_seconds = 3.0

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path = request.full_path.rstrip("?")  # with any query string, to show what was sent
        self.received.append(
            {"method": request.method, "path": path, "headers": dict(request.headers)}
        )
        response = self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if self.outage == "http-500":
            return Response("upstream failure", status=500)
        if self.outage == "not-text":
            return Response("<html>maintenance</html>", content_type="text/html")
        if self.outage == "stall":
            time.sleep(self.stall_seconds)
        match = _PATH.match(request.path)
        if request.method != "GET" or match is None:
            return Response("The hash prefix was not in a valid format", status=400)
        lines = self._lines(match["prefix"].upper(), request.headers.get("Add-Padding") == "true")
        body = "\r\n".join(f"{suffix}:{count}" for suffix, count in sorted(lines.items()))
        return Response(body, content_type="text/plain")

    def _lines(self, prefix: str, padded: bool) -> dict[str, int]:
        lines = {}
        for password, count in self.breached.items():
            digest = sha1_hex(password)
            if digest.startswith(prefix):
                lines[digest[5:]] = count
        if padded:
            for suffix in self.padding_suffixes:
                lines.setdefault(suffix.upper(), 0)
            target = self._random.randint(*PADDED_LINES)
            while len(lines) < target:
                lines.setdefault(f"{self._random.getrandbits(140):035X}", 0)
        return lines


_shared: PwnedRangeServer | None = None


def shared() -> PwnedRangeServer:
    """One range server, started on first use, for the servers the tests start as processes
    (gunicorn): they check passwords against it rather than the internet."""
    global _shared
    if _shared is None:
        _shared = PwnedRangeServer().__enter__()
    return _shared
