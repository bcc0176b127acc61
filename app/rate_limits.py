"""The per-IP limit on the sign-up endpoints (flask-limiter), and how its refusals are answered.

One Limiter per app, not a module-level one in app/extensions.py: flask-limiter keeps its storage
and settings on the instance, so an instance bound to a second app (every test builds apps, and
two instances in one process must not share counters by accident) would take over the first
app's storage. The per-identity, fleet-wide and confirm budgets are spent by the service (see
app/services/budgets.py) in the same storage.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, Response, current_app, g, has_app_context, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter, RateLimiter
from limits.util import WindowStats

from app import errors
from app.api import register
from app.api.register import client_ip
from app.config import AbuseSettings
from app.errors import handle_http_exception
from app.services.budgets import STORAGE_RETRY_AFTER_SECONDS, redis_script, storage_options

logger = logging.getLogger(__name__)

LIMITER = "rate_limiter"  # where the app's Limiter is kept in app.extensions
LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def client_key() -> str:
    """The per-IP bucket: the client IP Cognito is told about, or else the TCP peer.

    Requests whose forwarded address cannot be trusted (missing or malformed) all share the
    peer's bucket, so rotating a forged X-Forwarded-For never opens a fresh one.
    """
    return client_ip() or f"peer:{request.remote_addr or 'unknown'}"


# KEYS[1]: a moving window as limits keeps it, a list of timestamps, newest first. ARGV: now, the
# limit, the window's length in seconds. limits' acquire_moving_window.lua (for a cost of 1), then
# what its moving_window.lua reads: whether the hit was taken, the oldest entry still in the window,
# and how many entries are in it. Entries past the window never count again, so they are dropped
# from the old end as they expire: then the oldest in the window is the last entry and the count
# the list's length, each entry pushed once and popped once, however high the limit.
_HIT_AND_READ = """
local now, limit, seconds = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local acquired = 0
local last = redis.call('lindex', KEYS[1], limit - 1)
if not (last and tonumber(last) >= now - seconds) then
    redis.call('lpush', KEYS[1], ARGV[1])
    redis.call('ltrim', KEYS[1], 0, limit - 1)
    redis.call('expire', KEYS[1], seconds)
    acquired = 1
end
local oldest = redis.call('lindex', KEYS[1], -1)
while oldest and tonumber(oldest) < now - seconds do
    redis.call('rpop', KEYS[1])
    oldest = redis.call('lindex', KEYS[1], -1)
end
if oldest then
    return {acquired, oldest, redis.call('llen', KEYS[1])}
end
return {acquired, ARGV[1], 0}
"""


class _MovingWindow(MovingWindowRateLimiter):
    """limits' moving window, whose hit on Redis also reads the window the headers describe.

    flask-limiter hits the per-IP limit before the view and reads its window after it, for the
    X-RateLimit-* headers: two round trips to Redis per request, where one script does both. The
    window as the hit left it is kept for the rest of the request (in ``flask.g``), as
    flask-limiter would have read it an instant later. Other storages keep limits' own calls.
    """

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)
        self._script = redis_script(storage, _HIT_AND_READ)

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        if self._script is None or cost != 1 or not has_app_context():
            return super().hit(item, *identifiers, cost=cost)
        key = item.key_for(*identifiers)
        now, expiry = time.time(), item.get_expiry()
        acquired, oldest, count = self._script([key], [now, item.amount, expiry])
        windows = g.setdefault("limit_windows", {})
        windows[key] = WindowStats(float(oldest) + expiry, item.amount - int(count))
        return bool(acquired)

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        read = g.get("limit_windows", {}) if has_app_context() else {}
        return read.get(item.key_for(*identifiers)) or super().get_window_stats(item, *identifiers)


class _Limiter(Limiter):
    """flask-limiter's Limiter with the moving window above as its strategy."""

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        self._moving_window = _MovingWindow(self.storage)

    @property
    def limiter(self) -> RateLimiter:
        return self._moving_window


def register_rate_limits(app: Flask, abuse: AbuseSettings) -> Limiter:
    limiter = _Limiter(
        key_func=client_key,
        storage_uri=abuse.storage_uri,
        storage_options=storage_options(abuse.storage_uri),
        strategy="moving-window",
        key_prefix=abuse.key_prefix,
        # We write the headers ourselves: flask-limiter's would describe the per-IP limit even
        # when the service's identity budget refused, and add a second X-RateLimit-Limit.
        headers_enabled=False,
    )
    limiter.init_app(app)
    # One budget over the three endpoints; POST only, so CORS preflights spend nothing.
    limiter.shared_limit(abuse.per_ip, scope="signup", methods=["POST"])(register.blp)
    app.extensions[LIMITER] = limiter
    app.register_error_handler(RateLimitExceeded, _refused_per_ip)
    app.register_error_handler(StorageError, _storage_failed)
    app.after_request(_limit_headers)
    return limiter


def _refused_per_ip(error: RateLimitExceeded) -> Response:
    current = current_app.extensions[LIMITER].current_limit
    reset = current.window.reset_time if current else time.time() + 1
    logger.warning("Rate limit per_ip (%s) refused %s", error.limit.limit, request.path)
    return handle_http_exception(
        errors.RateLimited(
            "Too many requests from your network.",
            limit_name="per_ip",
            limit=error.limit.limit.amount,
            reset_at=math.ceil(reset),
            retry_after=max(1, math.ceil(reset - time.time())),
        )
    )


def _storage_failed(error: StorageError) -> Response:
    logger.error(
        "Rate-limit storage failed (%s): refusing the request", type(error.storage_error).__name__
    )
    return handle_http_exception(
        errors.RateLimitsUnavailable(retry_after=STORAGE_RETRY_AFTER_SECONDS)
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
