"""The per-IP limit on the sign-up endpoints (flask-limiter), and its X-RateLimit-* headers.

One Limiter per app, not a module-level one: flask-limiter keeps its storage and settings on the
instance, so an instance bound to a second app (every test builds apps, and two instances in one
process must not share counters by accident) would take over the first app's storage. The
per-identity, fleet-wide and confirm budgets are spent by the service (app/services/budgets.py)
in the same storage.

A refusal is raised as our own ``RateLimited`` (from flask-limiter's ``on_breach``), so the one
error handler (app/api/errors.py) answers it like every other error.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from flask_babel import gettext
from flask_limiter import Limiter, RequestLimit
from limits.errors import StorageError

from app import errors
from app.api.client_ip import request_client_ip
from app.config import AbuseSettings
from app.storage.limits import storage_options
from app.telemetry import tracing

logger = logging.getLogger(__name__)

LIMITER = "rate_limiter"  # where the app's Limiter is kept in app.extensions
LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def client_key() -> str:
    """The per-IP bucket: the client IP Cognito is told about, or else the TCP peer.

    Requests whose forwarded address cannot be trusted (missing or malformed) all share the
    peer's bucket, so rotating a forged X-Forwarded-For never opens a fresh one.
    """
    return request_client_ip() or f"peer:{request.remote_addr or 'unknown'}"


def init_app(app: Flask, abuse: AbuseSettings, limited: Blueprint) -> Limiter:
    """Limit ``limited``'s POSTs per client IP: one budget over all its endpoints."""
    limiter = Limiter(
        key_func=client_key,
        storage_uri=abuse.storage_uri,
        storage_options=storage_options(abuse.storage_uri),
        strategy="moving-window",
        key_prefix=abuse.key_prefix,
        # We write the headers ourselves: flask-limiter's would describe the per-IP limit even
        # when the service's identity budget refused, and add a second X-RateLimit-Limit.
        headers_enabled=False,
        on_breach=_refused_per_ip,
    )
    # flask-limiter checks in a before_request hook of its own: the span opens in the hook
    # registered before it and closes in the one after it, or at teardown when it refused.
    app.before_request(lambda: _open_per_ip_span(limited.name))
    limiter.init_app(app)
    app.before_request(_close_per_ip_span)
    app.teardown_request(_close_per_ip_span)
    # POST only, so CORS preflights spend nothing.
    limiter.shared_limit(abuse.per_ip, scope="signup", methods=["POST"])(limited)
    app.extensions[LIMITER] = limiter
    app.after_request(_limit_headers)
    return limiter


def _open_per_ip_span(limited: str) -> None:
    if request.method != "POST" or request.blueprint != limited:
        return
    opened = tracing.open_span("signup.per_ip_limit")
    if opened is not None:
        g.per_ip_span = opened


def _close_per_ip_span(error: BaseException | None = None) -> None:
    opened = g.pop("per_ip_span", None)
    if opened is not None:
        opened.close(error)


def _refused_per_ip(refused: RequestLimit) -> None:
    logger.warning("Rate limit per_ip (%s) refused %s", refused.limit, request.path)
    reset = refused.window.reset_time
    raise errors.RateLimited(
        gettext("Too many requests from your network."),
        limit_name="per_ip",
        limit=refused.limit.amount,
        reset_at=math.ceil(reset),
        retry_after=max(1, math.ceil(reset - time.time())),
    )


def _limit_headers(response: Response) -> Response:
    """X-RateLimit-* of the per-IP limit, unless a refusal already carries its own limit's."""
    if "X-RateLimit-Limit" in response.headers:
        return response
    current = current_app.extensions[LIMITER].current_limit
    if current is None:
        return response
    try:
        reset, remaining = current.window
    except StorageError:
        return response  # the request already failed or will be answered without them
    values = (current.limit.amount, max(remaining, 0), math.ceil(reset))
    response.headers.extend(zip(LIMIT_HEADERS, map(str, values), strict=True))
    return response
