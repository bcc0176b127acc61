"""Budgets a request spends just before it reaches Cognito, counted in the rate-limit storage.

flask-limiter guards the endpoints per IP before a view runs. These budgets are spent by the
service itself, since only it knows that a request got as far as Cognito (valid, not a bot,
captcha passed): the per-identity budget against email/SMS bombing, the fleet-wide cap below
Cognito's quota, and confirmation attempts per username. They live in the same storage as
flask-limiter's counters (``RATELIMIT_STORAGE_URI``): with Redis, every worker and host shares them.

A request spends all its budgets or none (``app.storage.limits``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from limits import RateLimitItem, parse_many
from limits.storage import Storage

from app import errors
from app.config import AbuseSettings
from app.storage.limits import Breach, Window, Windows, open_storage

logger = logging.getLogger(__name__)


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
        self._windows = Windows(storage)
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
                _l("Too many sign-ups and codes for this email address or username."),
            ),
            fleet=Budget.parse("global", abuse.global_, "", fleet_wide=True),
            confirm=Budget.parse(
                "confirm", abuse.confirm_per_username, _l("Too many confirmation attempts.")
            ),
        )

    def before_code_sent(self, identities: Iterable[str], identity_mode: str = "enforce") -> bool:
        """Spend one sign-up or resend for each identity (email, phone, username) and the fleet.

        The identity budget in ``identity_mode`` (SIGNUP_RULE_IDENTITY_BUDGET): enforced, spent
        with the fleet's all or none; in shadow mode spent on its own after it, and True when
        it had no room, which refuses nothing; off, not spent at all.
        """
        charges = [(self._identity, _pseudonym(identity)) for identity in sorted(set(identities))]
        fleet = (self._fleet, "cognito")
        if identity_mode == "enforce":
            self._spend([*charges, fleet])
            return False
        self._spend([fleet])
        if identity_mode == "off":
            return False
        return bool(self._windows.spend(list(self._windows_of(charges))))

    def before_confirm(self, username: str) -> None:
        self._spend([(self._confirm, _pseudonym(username)), (self._fleet, "cognito")])

    def _windows_of(self, charges: list[tuple[Budget, str]]) -> dict[Window, Budget]:
        return {
            Window(item, (self._prefix, budget.name, key)): budget
            for budget, key in charges
            for item in budget.items
        }

    def _spend(self, charges: list[tuple[Budget, str]]) -> None:
        """All or nothing: a refused request spends no budget."""
        owners = self._windows_of(charges)
        breaches = self._windows.spend(list(owners))
        if breaches:
            raise self._refusal(breaches, owners)

    @staticmethod
    def _refusal(breaches: list[Breach], owners: dict[Window, Budget]) -> errors.APIError:
        # The request can go through once every breached window has room again.
        last = max(breaches, key=lambda breach: breach.reset_at)
        budget, item = owners[last.window], last.window.item
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
