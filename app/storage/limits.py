"""The rate-limit storage (limits' storages: memory:// or Redis) and spending several windows.

flask-limiter's per-IP limit and the service's budgets (``app.services.budgets``) keep their
moving windows here, in limits' format under limits' keys. Spending is all or nothing: on Redis
one Lua script tests and hits every window atomically, in one round trip whatever their number;
on other storages, limits' API tests every window and then hits each. A storage that fails
leaves this module as ``errors.RateLimitsUnavailable``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import RedisClusterStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app import errors
from app.config import storage_is_shared

logger = logging.getLogger(__name__)

# A shared storage that stalls must not stall sign-ups: fail in a second, answer 503.
STORAGE_TIMEOUT_SECONDS = 1.0
STORAGE_RETRY_AFTER_SECONDS = 1


def storage_options(uri: str) -> dict[str, Any]:
    """Options for ``limits``' storages: errors wrapped in StorageError, Redis with timeouts."""
    options: dict[str, Any] = {"wrap_exceptions": True}
    if storage_is_shared(uri):
        options.update(
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
        )
    return options


def open_storage(uri: str) -> Storage:
    return storage_from_string(uri, **storage_options(uri))


RedisScript = Callable[[Sequence[str], Sequence[float]], Any]


def redis_script(storage: Storage, source: str) -> RedisScript | None:
    """``source`` as a Lua script on ``storage``'s Redis, failing as limits' calls do.

    None where one script cannot do the job: a storage other than Redis (or Sentinel), and Redis
    Cluster, where one script cannot touch keys on several nodes.
    """
    if not isinstance(storage, RedisStorage) or isinstance(storage, RedisClusterStorage):
        return None
    script = storage.get_connection().register_script(source)

    def run(keys: Sequence[str], arguments: Sequence[float]) -> Any:
        try:
            return script([storage.prefixed_key(key) for key in keys], arguments)
        except storage.base_exceptions as error:
            raise StorageError(error) from error

    return run


@dataclass(frozen=True)
class Window:
    """One window of one limit for one key: what limits calls an item and its identifiers."""

    item: RateLimitItem
    identifiers: tuple[str, ...]  # prefix, limit name, key

    @property
    def key(self) -> str:
        return self.item.key_for(*self.identifiers)


@dataclass(frozen=True)
class Breach:
    window: Window
    reset_at: float


class _Spender(Protocol):
    def spend(self, windows: Sequence[Window]) -> list[Breach]: ...


class _TestThenHit:
    """Any storage limits supports: every window tested, then each hit.

    Two requests racing between the test and the hit can both pass the test; the hit is atomic
    per window, so the loser is refused, having spent the windows hit before it.
    """

    def __init__(self, storage: Storage) -> None:
        self._limiter = MovingWindowRateLimiter(storage)

    def spend(self, windows: Sequence[Window]) -> list[Breach]:
        full = [w for w in windows if not self._limiter.test(w.item, *w.identifiers)]
        if full:
            return [self._breach(window) for window in full]
        for window in windows:
            if not self._limiter.hit(window.item, *window.identifiers):
                return [self._breach(window)]
        return []

    def _breach(self, window: Window) -> Breach:
        reset_at, _ = self._limiter.get_window_stats(window.item, *window.identifiers)
        return Breach(window, reset_at)


# KEYS: moving windows as limits keeps them, a list of timestamps, newest first, at most `limit`
# long. ARGV: now, then each window's limit and length in seconds. Redis runs a script
# atomically, so no other request comes between the tests and the hits.
_SPEND_ALL_OR_NONE = """
local now = tonumber(ARGV[1])
local full = {}
for i, key in ipairs(KEYS) do
    local limit, seconds = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
    local oldest = redis.call('lindex', key, limit - 1)
    if oldest and tonumber(oldest) >= now - seconds then
        table.insert(full, i)
        table.insert(full, oldest)
    end
end
if #full > 0 then
    return full
end
for i, key in ipairs(KEYS) do
    redis.call('lpush', key, ARGV[1])
    redis.call('ltrim', key, 0, tonumber(ARGV[2 * i]) - 1)
    redis.call('expire', key, tonumber(ARGV[2 * i + 1]))
end
return full
"""


class _OneScript:
    """Redis (or Sentinel): every window tested and hit in one script call, one round trip."""

    def __init__(self, script: RedisScript) -> None:
        self._script = script

    def spend(self, windows: Sequence[Window]) -> list[Breach]:
        now = time.time()
        arguments: list[float] = [now]
        for window in windows:
            arguments += [window.item.amount, window.item.get_expiry()]
        full = self._script([window.key for window in windows], arguments)
        breaches = []
        for position, oldest in zip(full[::2], full[1::2], strict=True):
            window = windows[int(position) - 1]  # Lua counts from 1
            breaches.append(Breach(window, float(oldest) + window.item.get_expiry()))
        return breaches


class Windows:
    """Moving windows in one storage, spent all or nothing."""

    def __init__(self, storage: Storage) -> None:
        script = redis_script(storage, _SPEND_ALL_OR_NONE)
        self._spender: _Spender = _TestThenHit(storage) if script is None else _OneScript(script)

    def spend(self, windows: Sequence[Window]) -> list[Breach]:
        """Spend one unit of every window, or of none: then return the full ones."""
        try:
            return self._spender.spend(windows)
        except StorageError as error:
            logger.error(
                "Rate-limit storage failed (%s): refusing the request",
                type(error.storage_error).__name__,
            )
            raise errors.RateLimitsUnavailable(retry_after=STORAGE_RETRY_AFTER_SECONDS) from None
