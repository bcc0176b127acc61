"""Keeping the signup record of each attempt: opened before Cognito is called, settled after.

The record is written first so that no Cognito user exists that the service has no record of: if
the database cannot be written, the attempt is refused with a 503 before Cognito is called. If the
update after Cognito's answer fails, the user exists and the client gets Cognito's answer anyway;
the record stays ``pending`` and one ERROR line carries what is needed to repair it by hand.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from app import errors
from app.attribution import Attribution
from app.identity import canonical_identity
from app.services.keyed_hash import keyed_hash
from app.storage.models import utcnow
from app.storage.repository import PreviousSignup, Settlement, SignupRecords

logger = logging.getLogger(__name__)

# The network kept by SIGNUP_RECORD_IP=truncated: a neighbourhood, not a household.
IPV4_PREFIX = 24
IPV6_PREFIX = 48


@functools.lru_cache(maxsize=4096)  # an address parsed and masked once, not per sign-up
def retained_ip(ip_address: str | None, retention: str) -> str | None:
    """What a record keeps of the client's IP under SIGNUP_RECORD_IP (truncated, full, none)."""
    if ip_address is None or retention == "none":
        return None
    if retention == "full":
        return ip_address
    address = ipaddress.ip_address(ip_address)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(frozen=True)
class Attempt:
    """Who tried to sign up, from where and through which page: what a record starts with."""

    username: str
    ip_address: str | None
    client_kind: str
    attribution: Attribution


def _rules(rules: Sequence[str]) -> str | None:
    return ",".join(rules) or None


class RecordKeeper:
    """Writes signup records for the signup service; knows hashing, IPs and what to log."""

    def __init__(
        self,
        records: SignupRecords,
        *,
        identity_key: bytes,
        ip_retention: str = "truncated",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._records = records
        self._identity_key = identity_key
        self._ip_retention = ip_retention
        self._clock = clock

    def identity_hash(self, username: str) -> str:
        """The keyed hash of the canonical identity: the budgets and the records see one person
        behind every spelling of a mailbox."""
        return keyed_hash(self._identity_key, canonical_identity(username))

    def open(self, attempt: Attempt, shadowed: Sequence[str] = ()) -> int:
        """Insert the attempt as ``pending``, with the rules it tripped in shadow mode;
        StorageUnavailable (503) means: don't call Cognito."""
        return self._records.add(
            {**self._row(attempt), "outcome": "pending", "shadowed_rules": _rules(shadowed)}
        )

    def refused(
        self, attempt: Attempt, rule: str, error_code: str | None, shadowed: Sequence[str]
    ) -> None:
        """Record an attempt a rule refused, for the report; the refusal stands either way."""
        row = {
            **self._row(attempt),
            "outcome": "refused",
            "refused_by": rule,
            "error_code": error_code,
            "shadowed_rules": _rules(shadowed),
        }
        try:
            self._records.add(row)
        except errors.StorageUnavailable:
            logger.warning("An attempt refused by rule %s could not be recorded", rule)

    def _row(self, attempt: Attempt) -> dict[str, object]:
        return {
            "created_at": self._clock(),
            "identity_hash": self.identity_hash(attempt.username),
            "client_kind": attempt.client_kind,
            "ip_address": retained_ip(attempt.ip_address, self._ip_retention),
            **attempt.attribution.as_columns(),
        }

    def created(self, record_id: int, user_sub: str, confirmed: bool) -> None:
        if confirmed:  # a pre-sign-up Lambda can auto-confirm
            self._settle(record_id, Settlement("confirmed", user_sub, confirmed_at=self._clock()))
        else:
            self._settle(record_id, Settlement("created", user_sub))

    def failed(self, record_id: int, error_code: str) -> None:
        self._settle(record_id, Settlement("failed", error_code=error_code))

    def previous(self, username: str) -> PreviousSignup | None:
        """The sign-up a confirmation or resend belongs to; None when unknown or unreadable."""
        try:
            return self._records.latest_signup(self.identity_hash(username))
        except errors.StorageUnavailable:
            # Confirming must not depend on analytics: go on without attribution.
            logger.warning(
                "Signup record lookup failed: Cognito is called without attribution, and a "
                "confirmation will not be recorded"
            )
            return None

    def confirmed(self, previous: PreviousSignup | None) -> None:
        if previous is None or previous.confirmed:
            return
        when = self._clock()
        try:
            self._records.mark_confirmed(previous.record_id, when)
        except errors.StorageUnavailable:
            logger.error(
                "Signup record %s was confirmed in Cognito but could not be marked confirmed. "
                "Repair: outcome=confirmed confirmed_at=%s",
                previous.record_id,
                when.isoformat(),
            )

    def signed_in(self, previous: PreviousSignup | None) -> None:
        if previous is None:
            return
        try:
            self._records.mark_signed_in(previous.record_id, self._clock())
        except errors.StorageUnavailable:
            logger.warning(
                "Signup record %s: its sign-in could not be recorded", previous.record_id
            )

    def _settle(self, record_id: int, settlement: Settlement) -> None:
        try:
            self._records.settle(record_id, settlement)
        except errors.StorageUnavailable:
            logger.error(
                "Signup record %s stays 'pending': Cognito answered but the record could not be "
                "updated. Repair: %s",
                record_id,
                settlement.describe(),
            )
