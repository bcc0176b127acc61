"""Reconciliation: signup records that do not say what Cognito did, repaired from Cognito's answer.

A record is opened before Cognito is called and settled after, so two windows can leave it wrong:

- Cognito answered, then the process died or the database write failed: the record stays
  ``pending`` (a failed write also logs one ERROR line carrying the repair);
- Cognito created the user but its answer was lost (a timeout, a dropped connection, a 5xx after
  the fact, a code that could not be delivered): the record says ``failed`` though the user exists.

:meth:`Reconciler.from_directory` asks Cognito: it lists the pool's users (ListUsers, an admin call
that needs IAM credentials) and matches them to those records by the keyed hash of the identity,
the only trace of the username a record keeps. It repairs both windows. :meth:`Reconciler.from_log`
applies the logged repair lines instead: no credentials, but only the failed-write case.

The unauthenticated sign-up API cannot do this: it has no call that reads a user, only ones that
change one (SignUp would create it, ResendConfirmationCode would send a code), and the records do
not keep the username to ask with anyway.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.cognito import PoolUser
from app.storage.repository import Settlement, SignupRecords, UnsettledRecord

# Errors after which Cognito may have created the user all the same: the call may have arrived.
AMBIGUOUS_ERRORS = frozenset(
    {
        "upstream_timeout",
        "upstream_unavailable",
        "upstream_error",
        "code_delivery_failed",
        "code_delivery_limited",
        "internal_error",
    }
)
# Users are matched against the database this many at a time.
PAGE = 500
# What a pending record becomes when Cognito has no user its attempt created.
NOT_CREATED = "not_created"
# Records are stamped by our clock, users by Cognito's: a user is matched to an attempt opened
# before it was created, give or take this much.
CLOCK_SKEW = timedelta(minutes=5)

_PENDING = re.compile(r"Signup record (?P<id>\d+) stays 'pending'.*Repair: (?P<repair>.+)$")
_CONFIRMED = re.compile(
    r"Signup record (?P<id>\d+) was confirmed in Cognito.*Repair: (?P<repair>.+)$"
)


SETTLEMENT_COLUMNS = tuple(Settlement.__dataclass_fields__)


@dataclass(frozen=True)
class Repair:
    """One record put right: what it said, and what Cognito's answer makes of it."""

    record_id: int
    was: str
    settlement: Settlement
    # Written only while the record still says this: never over what a live request settled.
    expected_outcomes: tuple[str, ...]
    columns: tuple[str, ...] = SETTLEMENT_COLUMNS

    def describe(self) -> str:
        return f"record {self.record_id}: {self.was} -> {self.settlement.describe()}"

    def values(self) -> dict[str, Any]:
        return {column: getattr(self.settlement, column) for column in self.columns}


@dataclass(frozen=True)
class Outcome:
    checked: int
    repairs: list[Repair]


class Reconciler:
    def __init__(self, records: SignupRecords) -> None:
        self._records = records

    def from_directory(
        self,
        users: Iterable[PoolUser],
        identity_hash: Callable[[str], str],
        *,
        opened_before: datetime,
        dry_run: bool = False,
    ) -> Outcome:
        """Match the pool's users to records that may be wrong; repair what Cognito contradicts.

        ``identity_hash`` is the records' keyed hash of a username. Records opened after
        ``opened_before`` are left alone: their request may be in flight. Besides records left
        pending or failed, a ``created`` record whose user Cognito shows confirmed is marked
        confirmed: a confirmation is not recorded when the record cannot be read at the time.
        ``users`` is only read when there is something to check, so a database with nothing
        pending, failed ambiguously or unconfirmed costs no ListUsers call at all.
        """
        candidates = self._records.unsettled(opened_before, AMBIGUOUS_ERRORS)
        if not candidates and not self._records.any_with_outcome("created"):
            return Outcome(0, [])
        by_identity: dict[str, list[UnsettledRecord]] = defaultdict(list)
        for record in candidates:
            by_identity[record.identity_hash].append(record)
        found: dict[str, dict[str, PoolUser]] = defaultdict(dict)
        confirmations: list[Repair] = []
        for batch in _batches(users, PAGE):
            for user in batch:
                for identity in _identities(user):
                    hashed = identity_hash(identity)
                    if hashed in by_identity:
                        found[hashed][user.sub] = user
            confirmations.extend(self._confirmations([user for user in batch if user.confirmed]))
        recorded = self._records.recorded_subs({sub for users in found.values() for sub in users})
        repairs: list[Repair] = []
        for identity, records in by_identity.items():
            unrecorded = [u for sub, u in found.get(identity, {}).items() if sub not in recorded]
            repairs.extend(_match(records, unrecorded))
        checked = len(candidates) + len(confirmations)
        return Outcome(checked, self._apply(repairs + confirmations, dry_run))

    def _confirmations(self, confirmed: list[PoolUser]) -> list[Repair]:
        """Records still ``created`` for users Cognito shows confirmed."""
        by_sub = {user.sub: user for user in confirmed}
        return [
            Repair(
                record_id,
                "created",
                Settlement("confirmed", sub, confirmed_at=by_sub[sub].modified_at),
                ("created",),
                ("outcome", "confirmed_at"),
            )
            for sub, record_id in self._records.with_subs(set(by_sub), "created").items()
        ]

    def from_log(self, lines: Iterable[str], *, dry_run: bool = False) -> Outcome:
        """Apply the repairs the service logged when a record could not be updated."""
        repairs = [repair for line in lines if (repair := _logged_repair(line)) is not None]
        return Outcome(len(repairs), self._apply(repairs, dry_run))

    def _apply(self, repairs: list[Repair], dry_run: bool) -> list[Repair]:
        if dry_run:
            return repairs
        return [
            repair
            for repair in repairs
            if self._records.repair(repair.record_id, repair.expected_outcomes, **repair.values())
        ]


def _identities(user: PoolUser) -> set[str]:
    """What a sign-up may have sent as the Username of this user: its username or, in a pool
    that signs in by email or phone, that attribute (Cognito then generates the username)."""
    return {identity for identity in (user.username, user.email, user.phone_number) if identity}


def _batches(items: Iterable[PoolUser], size: int) -> Iterator[list[PoolUser]]:
    batch: list[PoolUser] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _match(records: list[UnsettledRecord], users: list[PoolUser]) -> list[Repair]:
    """Give each user the latest attempt opened before it was created; what is left over and
    still pending created nothing (Cognito holds one user per username)."""
    remaining = sorted(records, key=lambda record: (record.created_at, record.record_id))
    repairs = []
    for user in sorted(users, key=lambda user: user.created_at):
        opened = [r for r in remaining if r.created_at <= user.created_at + CLOCK_SKEW]
        if not opened:
            continue
        record = opened[-1]
        remaining.remove(record)
        if user.confirmed:
            settlement = Settlement("confirmed", user.sub, confirmed_at=user.modified_at)
        else:
            settlement = Settlement("created", user.sub)
        repairs.append(Repair(record.record_id, _was(record), settlement, (record.outcome,)))
    not_created = Settlement("failed", error_code=NOT_CREATED)
    repairs.extend(
        Repair(record.record_id, _was(record), not_created, (record.outcome,))
        for record in remaining
        if record.outcome == "pending"
    )
    return repairs


def _was(record: UnsettledRecord) -> str:
    if record.error_code is None:
        return record.outcome
    return f"{record.outcome} ({record.error_code})"


def _logged_repair(line: str) -> Repair | None:
    """The repair in one log line (JSON as the service writes them, or plain text); else None."""
    text = line.strip()
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        text = str(document.get("message", ""))
    if match := _PENDING.search(text):
        settlement = _settlement(match["repair"])
        return Repair(int(match["id"]), "pending", settlement, ("pending",))
    if match := _CONFIRMED.search(text):
        # The record already holds its user_sub: only the confirmation is written.
        settlement = _settlement(match["repair"])
        columns = ("outcome", "confirmed_at")
        return Repair(int(match["id"]), "created", settlement, ("created",), columns)
    return None


def _settlement(pairs: str) -> Settlement:
    """``outcome=created user_sub=… error_code=None confirmed_at=…``, as Settlement.describe."""
    values: dict[str, Any] = {}
    for pair in pairs.split():
        name, _, value = pair.partition("=")
        values[name] = None if value == "None" else value
    if values.get("confirmed_at"):
        values["confirmed_at"] = datetime.fromisoformat(values["confirmed_at"])
    return Settlement(**{name: values.get(name) for name in SETTLEMENT_COLUMNS})
