"""The per-IP limit's hit and the read of its window, in one Redis round trip.

flask-limiter hits the per-IP limit before the view and reads its window after it, for the
X-RateLimit-* headers: two round trips to Redis per request, where one script does both.
:func:`install` makes this flask-limiter's moving-window strategy.
"""

from __future__ import annotations

import time

from flask import g, has_app_context
from limits import RateLimitItem, strategies
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter
from limits.util import WindowStats

from app.storage.limits import redis_script

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


def install() -> None:
    """Every Limiter created from now on, with ``strategy="moving-window"``, uses this one."""
    strategies.STRATEGIES["moving-window"] = _MovingWindow
