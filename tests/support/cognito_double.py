"""The tests' Cognito: the embedded one (app/serving/embedded_cognito.py), with what tests need.

The behaviour (moto's pool, SecretHash, codes, resend, Sessions, the USER_AUTH sign-in, field
limits, error shapes) is all the embedded Cognito's. This adds only test conveniences: every call
recorded, answers scripted (``fail_next``, ``respond_raw_next``), a delay, the users and their
subs; codes are read with ``code_for`` rather than logged.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from app.serving.embedded_cognito import (
    MEMBERS,
    SESSION_VALIDITY_SECONDS,
    CognitoError,
    EmbeddedCognito,
    is_jwks,
    operation_of,
)

# What calls for the pool's public keys (GET /<pool id>/.well-known/jwks.json) are recorded as.
JWKS = "GetJwks"


@dataclass
class Received:
    """One call as it arrived."""

    operation: str
    params: dict
    headers: dict[str, str]


@dataclass(frozen=True)
class UserState:
    sub: str
    confirmed: bool
    created_at: float  # seconds since the epoch, as ListUsers has UserCreateDate


class CognitoDouble(EmbeddedCognito):
    """The embedded Cognito for tests. Start it (or use it as a context manager), point the
    service at it with ``settings()``, then read ``calls()``, ``violations`` and ``code_for()``."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []
        self.delay_seconds: float = 0.0
        self.most_in_flight = 0  # the most calls it was answering at once
        self._in_flight = 0
        self._scripted: defaultdict[str, deque[Callable[[], Response]]] = defaultdict(deque)

    def calls(self, operation: str) -> list[Received]:
        with self._lock:
            return [call for call in self.received if call.operation == operation]

    def sub_for(self, username: str) -> str:
        """The UserSub of ``username``; KeyError when the pool has no such user."""
        user = self._find_user(username)
        if user is None:
            raise KeyError(f"no user {username!r} in the pool")
        return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")

    def users(self) -> dict[str, UserState]:
        """Every user of the pool, by username."""
        return {
            user["Username"]: UserState(
                next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub"),
                user["UserStatus"] == "CONFIRMED",
                float(user["UserCreateDate"]),
            )
            for user in self._pool_users()
        }

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is being answered (one its caller gave up on included); whether
        that happened within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    return True
            time.sleep(0.05)
        return False

    def fail_next(
        self,
        operation: str,
        error_code: str,
        message: str = "",
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` with this Cognito error."""

        def failure() -> Response:
            response = CognitoError(error_code, message, status).response()
            response.headers.update(headers or {})
            return response

        with self._lock:
            self._scripted[operation].extend([failure] * times)

    def respond_raw_next(
        self, operation: str, status: int, body: bytes, content_type: str = "text/html"
    ) -> None:
        """Answer the next call of ``operation`` with exactly this, e.g. a proxy's 502 page."""
        with self._lock:
            self._scripted[operation].append(
                lambda: Response(body, status, content_type=content_type)
            )

    def reset(self) -> None:
        """Forget users, codes, Sessions, calls, violations, scripted answers and the delay; the
        pool's settings a test may change are back to their defaults."""
        super().reset()
        with self._lock:
            self.received.clear()
            self._scripted.clear()
            self.delay_seconds = 0.0
            self.most_in_flight = 0
            self.user_auth = True
            self.passwordless = True
            self.session_validity_seconds = SESSION_VALIDITY_SECONDS

    def deliver(self, username: str, code: str) -> None:
        """Tests read codes with ``code_for``: logged, they would show in the logs under test."""

    def answer(self, request: Request) -> Response:
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            response = self._scripted_or_real(request)
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            return response
        finally:
            with self._lock:
                self._in_flight -= 1

    def _scripted_or_real(self, request: Request) -> Response:
        operation = JWKS if is_jwks(request) else operation_of(request)
        try:
            params = json.loads(request.get_data() or b"{}")
        except ValueError:
            params = None
        params = params if isinstance(params, dict) else {}
        with self._lock:
            self.received.append(Received(operation, params, dict(request.headers.items())))
            scripted = self._scripted[operation].popleft() if self._scripted[operation] else None
        if scripted is None:
            return super().answer(request)
        if operation in MEMBERS:
            self.record_breaches(operation, params)  # a limit broken counts, answered or not
        return scripted()
