"""The service's own tables: a signup record per attempt; idempotency keys.

What is deliberately not here: the password, SECRET_HASH, the client secret, the fingerprint
(encoded_data), the email or username in clear (only a keyed hash), and the full IP by default.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Integer, String, Text, func
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.attribution import LANDING_PAGE_MAX, TAG_MAX, VARIANT_MAX
from app.storage.db import db

# "refused": a rule in enforce mode stopped the attempt before Cognito (refused_by names it).
OUTCOMES = ("pending", "created", "confirmed", "failed", "refused")
CLIENT_KINDS = ("form", "json")


def utcnow() -> datetime:
    """Now, as an aware UTC datetime; called for every row, never once at import."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite has no time zones, so it stores naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class SignupRecord(db.Model):
    """One sign-up attempt that reached Cognito or was refused by a rule, and what became of it."""

    __tablename__ = "signup_records"
    __table_args__ = (
        CheckConstraint(_one_of("outcome", OUTCOMES), name="outcome"),
        CheckConstraint(_one_of("client_kind", CLIENT_KINDS), name="client_kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.now(), index=True
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the confirmation also signed the person in (the funnel's last step).
    signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # HMAC-SHA256 of the normalised username: links a confirmation to its sign-up without keeping
    # the email; without the key it cannot be reversed by hashing a list of addresses.
    identity_hash: Mapped[str] = mapped_column(String(64), index=True)
    user_sub: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    # The service's own error code (e.g. username_exists), never Cognito's message.
    error_code: Mapped[str | None] = mapped_column(String(64))
    # The rule (enforce mode) that refused the attempt; see config.RULE_DEFAULTS.
    refused_by: Mapped[str | None] = mapped_column(String(32))
    # The rules that would have refused it but are in shadow mode, comma-separated.
    shadowed_rules: Mapped[str | None] = mapped_column(String(255))
    client_kind: Mapped[str] = mapped_column(String(8))
    # The client's network (203.0.113.0/24) by default; see SIGNUP_RECORD_IP.
    ip_address: Mapped[str | None] = mapped_column(String(64))
    variant: Mapped[str | None] = mapped_column(String(VARIANT_MAX))
    utm_source: Mapped[str | None] = mapped_column(String(TAG_MAX))
    utm_medium: Mapped[str | None] = mapped_column(String(TAG_MAX))
    utm_campaign: Mapped[str | None] = mapped_column(String(TAG_MAX))
    utm_term: Mapped[str | None] = mapped_column(String(TAG_MAX))
    utm_content: Mapped[str | None] = mapped_column(String(TAG_MAX))
    landing_page: Mapped[str | None] = mapped_column(String(LANDING_PAGE_MAX))


class IdempotencyKey(db.Model):
    """A client's Idempotency-Key: who claimed it for which request, and the answer it got."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # HMAC-SHA256 of the endpoint and the canonical body: the body holds a password, so no
    # plain hash that could be checked against guesses.
    request_hash: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # All three stay NULL while the first request is in progress.
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_content_type: Mapped[str | None] = mapped_column(String(128))
    response_body: Mapped[str | None] = mapped_column(Text)
