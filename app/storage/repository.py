"""Reading and writing the service's tables: small typed functions over short transactions.

SQLAlchemy stops here the way botocore stops at ``app.cognito``: every database failure leaves
this module as ``errors.StorageUnavailable``, so services decide what a failure means without
knowing the driver. Each method is one statement, committed before it returns.
"""

from __future__ import annotations

import _socket  # the C sockets under socket: never monkey-patched, so a peek never waits
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Engine,
    and_,
    case,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app import errors
from app.attribution import ATTRIBUTION_FIELDS, Attribution
from app.storage.models import IdempotencyKey, SignupRecord

logger = logging.getLogger(__name__)

REPORT_DIMENSIONS = ATTRIBUTION_FIELDS
# Attempts that created a Cognito user; "pending" (outcome never recorded) and "failed" don't count.
SIGNED_UP = ("created", "confirmed")
# A database outage rarely clears within a second; five keeps retrying clients from piling on.
STORAGE_RETRY_AFTER_SECONDS = 5
# A PostgreSQL that accepts connections but never answers holds a sign-up this long at most:
# psycopg's connect_timeout covers TCP and the PostgreSQL handshake together (libpq's minimum is 2).
CONNECT_TIMEOUT_SECONDS = 3


def engine_options(database_url: str, pool_size: int) -> dict[str, Any]:
    """SQLAlchemy engine options for the service's database.

    A new connection gives up after CONNECT_TIMEOUT_SECONDS, and TCP keepalives notice a server
    that vanished (host down, network partition) within about ten seconds instead of the kernel's
    two hours. Pooled connections are checked by ``watch_connections``, not ``pool_pre_ping``.

    Every statement commits as it runs: each method below is a single statement, which then needs
    no BEGIN and COMMIT round trips. Set here, on the engine, rather than per connection: switching
    a pooled connection to autocommit and back cost about 7% of a worker's CPU under load
    (py-spy). Migrations ask for a transaction of their own (migrations/env.py).
    """
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"}
    if make_url(database_url).get_backend_name() == "postgresql":
        # A fixed pool: a request waits for one of ``pool_size`` connections (each is held for one
        # statement) rather than open one more. Connections opened for a burst and closed after
        # it cost more than the sign-ups they served: under load py-spy found workers busy
        # connecting and closing (150 ms stand-in, 200 connections). Waiting is bounded like a
        # connection attempt, so a database that stops answering is a 503 within seconds.
        options.update(pool_size=pool_size, max_overflow=0, pool_timeout=CONNECT_TIMEOUT_SECONDS)
        options["connect_args"] = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
        }
    return options


def watch_connections(engine: Engine) -> None:
    """Discard, at checkout, pooled PostgreSQL connections that the server has closed.

    ``pool_pre_ping`` would do it with a ``SELECT 1`` round trip per checkout: two per sign-up,
    over 40% of the two writes' CPU (measured in-process: 1.1 -> 0.6 ms). A connection idle in
    the pool has nothing to read unless the server closed it (restart, failover, terminated
    backend, a proxy cutting it) or is about to, so peeking at its socket, without waiting, finds
    it for free. A server that disappears without closing anything is found by the TCP keepalives
    instead.
    """
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _discard_if_closed)


def _discard_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError
    sock = _socket.socket(fileno=dbapi_connection.pgconn.socket)
    try:
        waiting = sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
    except BlockingIOError:
        return  # nothing to read: the connection is as the pool left it
    except OSError:
        waiting = b""
    finally:
        sock.detach()  # the descriptor stays libpq's
    # Data (the server's goodbye), EOF or an error: the pool opens a new connection instead.
    raise DisconnectionError(f"pooled connection closed by the server ({len(waiting)} bytes)")


class _Store:
    """One statement per method, committed as it runs (see ``engine_options``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self, action: str) -> Iterator[Session]:
        """An ORM session, for a statement that reads or writes mapped objects."""
        with storage_errors(action), self._sessions.begin() as session:
            yield session


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    try:
        yield
    except IntegrityError:
        raise  # a broken constraint is a bug or, for claims, the answer itself
    except SQLAlchemyError as error:
        # The type only: driver messages can quote the parameters of the failed statement.
        logger.warning("Database %s failed: %s", action, type(error).__name__)
        raise errors.StorageUnavailable(retry_after=STORAGE_RETRY_AFTER_SECONDS) from None


@dataclass(frozen=True)
class Settlement:
    """What Cognito's answer made of an attempt."""

    outcome: str
    user_sub: str | None = None
    error_code: str | None = None
    confirmed_at: datetime | None = None

    def describe(self) -> str:
        """``name=value`` pairs for a log line an operator can repair a record from."""
        return " ".join(
            f"{name}={value.isoformat() if isinstance(value, datetime) else value}"
            for name, value in asdict(self).items()
        )


@dataclass(frozen=True)
class UnsettledRecord:
    """A record reconciliation looks at: when, for whom (keyed hash), and what it says now."""

    record_id: int
    created_at: datetime
    identity_hash: str
    outcome: str
    error_code: str | None


@dataclass(frozen=True)
class PreviousSignup:
    """The latest sign-up that created a user under an identity."""

    record_id: int
    confirmed: bool
    attribution: Attribution


@dataclass
class RuleTrips:
    """One group's rule trips, in attempts: ``refused`` by each rule in enforce mode, and
    ``shadowed``, tripped by each rule in shadow mode (on any attempt, refused ones too)."""

    refused: dict[str, int] = field(default_factory=dict)
    shadowed: dict[str, int] = field(default_factory=dict)

    def add(self, refused_by: str | None, shadowed: str | None, count: int) -> None:
        """Count ``count`` attempts alike in the rules they tripped."""
        for rule in shadowed.split(",") if shadowed else []:
            self.shadowed[rule] = self.shadowed.get(rule, 0) + count
        if refused_by:
            self.refused[refused_by] = self.refused.get(refused_by, 0) + count


# The signup record's columns as the sign-up path writes them: every one but the id.
_RECORD_COLUMNS = tuple(
    column.key for column in SignupRecord.__table__.columns if column.key != "id"
)
_EMPTY_RECORD = dict.fromkeys(_RECORD_COLUMNS)


def record_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of a new record: ``row``'s values, NULL for the ones it leaves out."""
    unknown = row.keys() - set(_RECORD_COLUMNS)
    if unknown:
        raise ValueError(f"not columns of a signup record: {sorted(unknown)}")
    return {**_EMPTY_RECORD, **row}


class SignupRecords(_Store):
    """The signup_records table."""

    def add(self, row: Mapping[str, Any]) -> int:
        """Insert one record; ``row`` maps column names to values, the ones left out are NULL."""
        statement = insert(SignupRecord).returning(SignupRecord.id)
        with storage_errors("insert of a signup record"), self._engine.connect() as connection:
            return connection.execute(statement, record_values(row)).scalar_one()

    def settle(self, record_id: int, settlement: Settlement) -> None:
        """Record what Cognito answered to the attempt ``record_id``."""
        statement = (
            update(SignupRecord).where(SignupRecord.id == record_id).values(**vars(settlement))
        )
        with storage_errors("update of a signup record"), self._engine.connect() as connection:
            connection.execute(statement)

    def mark_confirmed(self, record_id: int, when: datetime) -> None:
        with self._session("confirmation of a signup record") as session:
            session.execute(
                update(SignupRecord)
                .where(SignupRecord.id == record_id, SignupRecord.outcome != "confirmed")
                .values(outcome="confirmed", confirmed_at=when)
            )

    def mark_signed_in(self, record_id: int, when: datetime) -> None:
        with self._session("sign-in of a signup record") as session:
            session.execute(
                update(SignupRecord)
                .where(SignupRecord.id == record_id, SignupRecord.signed_in_at.is_(None))
                .values(signed_in_at=when)
            )

    def latest_signup(self, identity_hash: str) -> PreviousSignup | None:
        with self._session("lookup of a signup record") as session:
            record = session.scalars(
                select(SignupRecord)
                .where(
                    SignupRecord.identity_hash == identity_hash,
                    SignupRecord.outcome.in_(SIGNED_UP),
                )
                .order_by(SignupRecord.created_at.desc(), SignupRecord.id.desc())
                .limit(1)
            ).first()
            if record is None:
                return None
            return PreviousSignup(
                record_id=record.id,
                confirmed=record.outcome == "confirmed",
                attribution=Attribution(
                    **{name: getattr(record, name) for name in ATTRIBUTION_FIELDS}
                ),
            )

    def unsettled(
        self, created_before: datetime, ambiguous_errors: frozenset[str]
    ) -> list[UnsettledRecord]:
        """Attempts whose record may not say what Cognito did: still pending, or failed with an
        error after which the user may exist anyway; oldest first."""
        maybe = or_(
            SignupRecord.outcome == "pending",
            and_(SignupRecord.outcome == "failed", SignupRecord.error_code.in_(ambiguous_errors)),
        )
        with self._session("lookup of unsettled signup records") as session:
            rows = session.execute(
                select(
                    SignupRecord.id,
                    SignupRecord.created_at,
                    SignupRecord.identity_hash,
                    SignupRecord.outcome,
                    SignupRecord.error_code,
                )
                .where(maybe, SignupRecord.created_at < created_before)
                .order_by(SignupRecord.created_at, SignupRecord.id)
            )
            return [UnsettledRecord(*row) for row in rows]

    def recorded_subs(self, subs: set[str]) -> set[str]:
        """Which of these Cognito users already have a record that created them."""
        if not subs:
            return set()
        with self._session("lookup of recorded users") as session:
            return set(
                session.scalars(
                    select(SignupRecord.user_sub).where(SignupRecord.user_sub.in_(subs))
                )
            )

    def any_with_outcome(self, outcome: str) -> bool:
        with self._session("lookup of signup records") as session:
            found = session.scalar(select(SignupRecord.id).where(SignupRecord.outcome == outcome))
            return found is not None

    def with_subs(self, subs: set[str], outcome: str) -> dict[str, int]:
        """The record of each of these Cognito users that has ``outcome``: sub to record id."""
        if not subs:
            return {}
        with self._session("lookup of recorded users") as session:
            rows = session.execute(
                select(SignupRecord.user_sub, SignupRecord.id).where(
                    SignupRecord.user_sub.in_(subs), SignupRecord.outcome == outcome
                )
            )
            return {sub: record_id for sub, record_id in rows}

    def repair(self, record_id: int, expected_outcomes: tuple[str, ...], **values: object) -> bool:
        """Set ``values`` if the record is still in one of ``expected_outcomes``; whether it was.

        Conditional, so a repair never overwrites what a live request settled meanwhile.
        """
        with self._session("repair of a signup record") as session:
            result = session.execute(
                update(SignupRecord)
                .where(SignupRecord.id == record_id, SignupRecord.outcome.in_(expected_outcomes))
                .values(**values)
            )
            return result.rowcount == 1

    def purge(self, created_before: datetime) -> int:
        with self._session("purge of signup records") as session:
            result = session.execute(
                delete(SignupRecord).where(SignupRecord.created_at < created_before)
            )
            return result.rowcount

    def rule_trips(
        self, by: str, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str | None, RuleTrips]:
        """The rule trips per value of ``by``, for attempts made in [since, until)."""
        if by not in REPORT_DIMENSIONS:
            raise ValueError(f"cannot report by {by!r}")
        group = getattr(SignupRecord, by)
        tripped = or_(
            SignupRecord.refused_by.is_not(None), SignupRecord.shadowed_rules.is_not(None)
        )
        alike = (group, SignupRecord.refused_by, SignupRecord.shadowed_rules)
        query = select(*alike, func.count()).where(tripped, *_window(since, until)).group_by(*alike)
        trips: dict[str | None, RuleTrips] = {}
        with self._session("rule trips") as session:
            for value, refused_by, shadowed, count in session.execute(query):
                trips.setdefault(value, RuleTrips()).add(refused_by, shadowed, count)
        return trips

    def funnel(
        self,
        by: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        include_flagged: bool = False,
        every: str | None = None,
    ) -> list[FunnelRow]:
        """People at each funnel step per value of ``by``, for attempts made in [since, until).

        Attempts a rule refused or tripped in shadow mode (bot-flagged) are left out unless
        ``include_flagged``. With ``every`` ("day" or "hour"), one row per group and bucket of
        the attempts' time (UTC), oldest first.
        """
        if by not in REPORT_DIMENSIONS:
            raise ValueError(f"cannot report by {by!r}")
        group = getattr(SignupRecord, by)
        conditions = _window(since, until)
        if not include_flagged:
            conditions += [SignupRecord.refused_by.is_(None), SignupRecord.shadowed_rules.is_(None)]
        keys: list[Any] = [group]
        if every is not None:
            keys.append(self._bucket(every))
        with self._session("signup funnel") as session:
            rows = [
                FunnelRow(
                    row[0],
                    *(int(count or 0) for count in row[-4:]),
                    bucket=str(row[1]) if every is not None else None,
                )
                for row in session.execute(_people_at_each_step(keys, conditions))
            ]
        return sorted(rows, key=lambda row: (row.bucket or "", row.group is None, row.group or ""))

    def _bucket(self, every: str) -> Any:
        formats = _BUCKETS[every]
        if self._engine.dialect.name == "postgresql":
            utc = func.timezone("UTC", SignupRecord.created_at)
            return func.to_char(utc, formats["postgresql"])
        return func.strftime(formats["sqlite"], SignupRecord.created_at)


# The funnel's steps, in order: every step counts people (distinct identities), not attempts.
FUNNEL_STEPS = ("started", "registered", "confirmed", "signed_in")
# How the time series is bucketed, as each database writes the bucket's start (UTC).
_BUCKETS = {
    "day": {"sqlite": "%Y-%m-%d", "postgresql": "YYYY-MM-DD"},
    "hour": {"sqlite": "%Y-%m-%dT%H", "postgresql": 'YYYY-MM-DD"T"HH24'},
}


@dataclass(frozen=True)
class FunnelRow:
    """People at each step of the funnel, for one group (or one group in one time bucket).

    started: any attempt recorded; registered: a Cognito user created; confirmed; signed_in:
    signed in by the confirmation.
    """

    group: str | None
    started: int
    registered: int
    confirmed: int
    signed_in: int
    bucket: str | None = None  # "2026-12-05" or "2026-12-05T14" in a series; None for totals


def _window(since: datetime | None, until: datetime | None) -> list[Any]:
    """Attempts made in [since, until), either end open when None."""
    conditions = []
    if since is not None:
        conditions.append(SignupRecord.created_at >= since)
    if until is not None:
        conditions.append(SignupRecord.created_at < until)
    return conditions


def _people_at_each_step(keys: list[Any], conditions: list[Any]) -> Any:
    """People (distinct identities) per value of ``keys`` at each step: a person who retried
    is still one person.

    One row per person first, saying which steps any of their attempts reached, then those rows
    counted: one grouping where ``count(DISTINCT ...)`` per step would sort the attempts once
    for each step (on a million people the report took 23 s with those, 11 s with this:
    bench/report.py).
    """

    def reached(condition: Any) -> Any:
        return func.max(case((condition, 1), else_=0))

    person = (
        select(
            *(key.label(f"key{index}") for index, key in enumerate(keys)),
            reached(SignupRecord.outcome.in_(SIGNED_UP)).label("registered"),
            reached(SignupRecord.outcome == "confirmed").label("confirmed"),
            reached(SignupRecord.signed_in_at.is_not(None)).label("signed_in"),
        )
        .where(*conditions)
        .group_by(*keys, SignupRecord.identity_hash)
        .subquery()
    )
    grouped = [person.c[f"key{index}"] for index in range(len(keys))]
    return select(
        *grouped,
        func.count(),
        func.sum(person.c.registered),
        func.sum(person.c.confirmed),
        func.sum(person.c.signed_in),
    ).group_by(*grouped)


@dataclass(frozen=True)
class StoredAnswer:
    """An answer as the client received it, replayed byte for byte."""

    status: int
    content_type: str
    body: str


@dataclass(frozen=True)
class KeyState:
    request_hash: str
    answer: StoredAnswer | None


class IdempotencyKeys(_Store):
    """The idempotency_keys table. Claiming relies on the primary key: one insert wins."""

    def claim(self, key: str, request_hash: str, now: datetime, expires_at: datetime) -> bool:
        """True when this caller now owns ``key``; False when someone already holds it."""
        try:
            with self._session("claim of an idempotency key") as session:
                session.add(
                    IdempotencyKey(
                        key=key, request_hash=request_hash, claimed_at=now, expires_at=expires_at
                    )
                )
        except IntegrityError:
            return False
        return True

    def take_over(
        self,
        key: str,
        request_hash: str,
        *,
        now: datetime,
        abandoned_before: datetime,
        expires_at: datetime,
    ) -> bool:
        """Claim ``key`` if it expired, or if the same request left it in progress and died.

        One conditional UPDATE, so of two callers racing for it exactly one sees a row change.
        """
        expired = IdempotencyKey.expires_at <= now
        abandoned = and_(
            IdempotencyKey.response_status.is_(None),
            IdempotencyKey.claimed_at <= abandoned_before,
            IdempotencyKey.request_hash == request_hash,
        )
        with self._session("take-over of an idempotency key") as session:
            result = session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == key, or_(expired, abandoned))
                .values(
                    request_hash=request_hash,
                    claimed_at=now,
                    expires_at=expires_at,
                    response_status=None,
                    response_content_type=None,
                    response_body=None,
                )
            )
            return result.rowcount == 1

    def get(self, key: str) -> KeyState | None:
        with self._session("lookup of an idempotency key") as session:
            row = session.get(IdempotencyKey, key)
            if row is None:
                return None
            answer = None
            if row.response_status is not None:
                answer = StoredAnswer(
                    row.response_status, row.response_content_type or "", row.response_body or ""
                )
            return KeyState(row.request_hash, answer)

    def store(self, key: str, answer: StoredAnswer) -> None:
        with self._session("storing an idempotent answer") as session:
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == key)
                .values(
                    response_status=answer.status,
                    response_content_type=answer.content_type,
                    response_body=answer.body,
                )
            )

    def release(self, key: str) -> None:
        with self._session("release of an idempotency key") as session:
            # Only an unanswered claim: a stored answer stays until it expires.
            session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.key == key, IdempotencyKey.response_status.is_(None)
                )
            )

    def purge_expired(self, now: datetime) -> int:
        with self._session("purge of idempotency keys") as session:
            return session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
            ).rowcount
