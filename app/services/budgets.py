"""Budgets a request spends just before it reaches Cognito, counted in the rate-limit storage.

flask-limiter guards the endpoints per IP before a view runs. These budgets are spent by the
service itself, since only it knows that a request got as far as Cognito (valid, not a bot,
captcha passed): the per-identity budget against email/SMS bombing, the fleet-wide cap below
Cognito's quota, and confirmation attempts per username. They live in the same storage as
flask-limiter's counters (``RATELIMIT_STORAGE_URI``): with Redis, every worker and host shares them.

A request spends all its budgets or none. On Redis that takes one script call, atomic and one
round trip whatever the number of windows; on other storages, limits' API tests every window and
then hits each. Both keep limits' moving windows in limits' format, under limits' keys.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import RedisClusterStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app import errors
from app.config import AbuseSettings, storage_is_shared

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
class Budget:
    """One named limit: ``items`` are its windows (e.g. 5 per hour and 10 per day)."""

    name: str
    items: tuple[RateLimitItem, ...]
    reason: str
    # Spent by everyone together: refusing is about our capacity, not this client (503, not 429).
    fleet_wide: bool = False

    @classmethod
    def parse(cls, name: str, limits: str, reason: str, *, fleet_wide: bool = False) -> Budget:
        return cls(name, tuple(parse_many(limits)), reason, fleet_wide)


@dataclass(frozen=True)
class _Window:
    """One window of one budget for one key: what limits calls an item and its identifiers."""

    budget: Budget
    item: RateLimitItem
    identifiers: tuple[str, str, str]  # prefix, budget name, key

    @property
    def key(self) -> str:
        return self.item.key_for(*self.identifiers)


@dataclass(frozen=True)
class _Breach:
    window: _Window
    reset_at: float


class _Windows(Protocol):
    def spend(self, windows: Sequence[_Window]) -> list[_Breach]:
        """Spend one unit of every window, or of none: then return the full ones."""


class _TestThenHit:
    """Any storage limits supports: every window tested, then each hit.

    Two requests racing between the test and the hit can both pass the test; the hit is atomic
    per window, so the loser is refused, having spent the windows hit before it.
    """

    def __init__(self, storage: Storage) -> None:
        self._limiter = MovingWindowRateLimiter(storage)

    def spend(self, windows: Sequence[_Window]) -> list[_Breach]:
        full = [w for w in windows if not self._limiter.test(w.item, *w.identifiers)]
        if full:
            return [self._breach(window) for window in full]
        for window in windows:
            if not self._limiter.hit(window.item, *window.identifiers):
                return [self._breach(window)]
        return []

    def _breach(self, window: _Window) -> _Breach:
        reset_at, _ = self._limiter.get_window_stats(window.item, *window.identifiers)
        return _Breach(window, reset_at)


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

    def spend(self, windows: Sequence[_Window]) -> list[_Breach]:
        now = time.time()
        arguments: list[float] = [now]
        for window in windows:
            arguments += [window.item.amount, window.item.get_expiry()]
        full = self._script([window.key for window in windows], arguments)
        breaches = []
        for position, oldest in zip(full[::2], full[1::2], strict=True):
            window = windows[int(position) - 1]  # Lua counts from 1
            breaches.append(_Breach(window, float(oldest) + window.item.get_expiry()))
        return breaches


def _windows_over(storage: Storage) -> _Windows:
    script = redis_script(storage, _SPEND_ALL_OR_NONE)
    return _TestThenHit(storage) if script is None else _OneScript(script)


class Budgets:
    """The service's budgets over one storage; moving windows, so '5/hour' means any 60 minutes."""

    def __init__(
        self,
        storage: Storage,
        *,
        prefix: str,
        identity: Budget,
        fleet: Budget,
        confirm: Budget,
    ) -> None:
        self._windows = _windows_over(storage)
        self._prefix = prefix
        self._identity = identity
        self._fleet = fleet
        self._confirm = confirm

    @classmethod
    def from_settings(cls, abuse: AbuseSettings) -> Budgets:
        return cls(
            open_storage(abuse.storage_uri),
            prefix=abuse.key_prefix,
            identity=Budget.parse(
                "identity",
                abuse.per_identity,
                "Too many sign-ups and codes for this email address or username.",
            ),
            fleet=Budget.parse("global", abuse.global_, "", fleet_wide=True),
            confirm=Budget.parse(
                "confirm", abuse.confirm_per_username, "Too many confirmation attempts."
            ),
        )

    def before_code_sent(self, identities: Iterable[str]) -> None:
        """Spend one sign-up or resend for each identity (email, phone, username) and the fleet."""
        charges = [(self._identity, _pseudonym(identity)) for identity in sorted(set(identities))]
        self._spend([*charges, (self._fleet, "cognito")])

    def before_confirm(self, username: str) -> None:
        self._spend([(self._confirm, _pseudonym(username)), (self._fleet, "cognito")])

    def _spend(self, charges: list[tuple[Budget, str]]) -> None:
        """All or nothing: a refused request spends no budget."""
        windows = [
            _Window(budget, item, (self._prefix, budget.name, key))
            for budget, key in charges
            for item in budget.items
        ]
        try:
            breaches = self._windows.spend(windows)
        except StorageError as error:
            logger.error(
                "Rate-limit storage failed (%s): refusing the request",
                type(error.storage_error).__name__,
            )
            raise errors.RateLimitsUnavailable(retry_after=STORAGE_RETRY_AFTER_SECONDS) from None
        if breaches:
            raise self._refusal(breaches)

    @staticmethod
    def _refusal(breaches: list[_Breach]) -> errors.APIError:
        # The request can go through once every breached window has room again.
        last = max(breaches, key=lambda breach: breach.reset_at)
        budget, item = last.window.budget, last.window.item
        retry_after = max(1, math.ceil(last.reset_at - time.time()))
        logger.warning("Rate limit %s (%s) refused a request", budget.name, item)
        if budget.fleet_wide:
            return errors.SignupsBusy(retry_after=retry_after)
        return errors.RateLimited(
            budget.reason,
            limit_name=budget.name,
            limit=item.amount,
            reset_at=math.ceil(last.reset_at),
            retry_after=retry_after,
        )


def _pseudonym(identity: str) -> str:
    """Counters are keyed by a hash: the storage never holds an email address or phone number."""
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
