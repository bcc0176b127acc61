"""Request ids, and the one access line logged per request (as JSON, see ``app.telemetry.logs``).

The request id comes from ``X-Request-ID`` when a proxy or client sent a sane one (bounded length,
safe characters), is generated otherwise, is attached to every line logged while the request is
handled, and is echoed in the response so a user's report can be matched to the logs.

What is logged is chosen here, never a request body: passwords, the client secret, SECRET_HASH
values and encoded_data have no way into these lines.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from app import errors
from app.telemetry.metrics import outcome_of

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+/=-]{1,128}$")

# Probes and scrapes arrive every few seconds from every orchestrator and Prometheus: their
# successes are logged at DEBUG so they do not bury the sign-ups.
QUIET_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "metrics.scrape"})

access_logger = logging.getLogger("signup.access")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is safe to log and echo, a fresh one otherwise."""
    if header and _SAFE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def start_request() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def finish_request(response: Response) -> Response:
    """Echo the request id and write the one access line of this request."""
    request_id = g.get("request_id") or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started", time.perf_counter())
    quiet = request.endpoint in QUIET_ENDPOINTS and response.status_code < 400
    access_logger.log(
        logging.DEBUG if quiet else logging.INFO,
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "request_id": request_id,
            "method": request.method,
            # The path only: a query string is the client's to fill, personal data included.
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "outcome": outcome_of(response, errors.current_error()),
        },
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(start_request)
    app.after_request(finish_request)
