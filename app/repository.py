"""Reading and writing the service's tables: small typed functions over short transactions.

SQLAlchemy stops here the way botocore stops at ``app.cognito``: every database failure leaves
this module as ``errors.StorageUnavailable``, so services decide what a failure means without
knowing the driver. Each method is one statement, committed before it returns.
"""

from __future__ import annotations

import _socket  # the C sockets under socket: never monkey-patched, so a peek never waits
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Engine,
    and_,
    bindparam,
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
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import Executable

from app import errors
from app.attribution import ATTRIBUTION_FIELDS, Attribution
from app.batching import Batcher
from app.models import IdempotencyKey, SignupRecord

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
        with _storage_errors(action), self._sessions.begin() as session:
            yield session


@contextmanager
def _storage_errors(action: str) -> Iterator[None]:
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


@dataclass(frozen=True)
class ReportRow:
    group: str | None
    signups: int
    confirmed: int

    @property
    def conversion(self) -> float:
        return self.confirmed / self.signups if self.signups else 0.0


class _DriverStatement:
    """A Core statement compiled once for an engine, run on a pooled DBAPI connection's cursor.

    For the two writes of every sign-up. SQLAlchemy's execution layer around them (compiled-cache
    lookup, execution context, result object, Connection) cost more CPU than psycopg and its wait
    for PostgreSQL together: the records' share of a sign-up fell from 0.45 to 0.25 ms
    (in-process, bench/costs.py). What the layer did for these statements is kept: the SQL and its
    parameters' order come from SQLAlchemy's compiler for the engine's dialect, values pass
    through the column types' bind processors, the connection comes from the engine's pool
    (checked by ``watch_connections``), and a connection the error shows to be dead is invalidated.
    """

    def __init__(self, engine: Engine, statement: Executable, columns: Sequence[str]) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        self._engine = engine
        self.sql = compiled.string
        self._positions = compiled.positiontup if compiled.positional else None
        self._processors = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.bind_processor(dialect)) is not None
        }

    def run(self, action: str, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Execute with ``values`` (by bind name) and commit; the first row returned, if any."""
        return _run_together(self._engine, action, [(self, values)])[0]

    def params(self, values: Mapping[str, Any]) -> Mapping[str, Any] | list[Any]:
        """``values`` (by bind name) as the driver takes them for this statement."""
        processed = {
            name: processor(value) if (processor := self._processors.get(name)) else value
            for name, value in values.items()
        }
        return processed if self._positions is None else [processed[n] for n in self._positions]


def _run_together(
    engine: Engine, action: str, entries: Sequence[tuple[_DriverStatement, Mapping[str, Any]]]
) -> list[tuple[Any, ...] | None]:
    """Execute each entry's statement with its values and commit; the first row each returned.

    More than one entry go in one round trip and one transaction: a psycopg pipeline, whose one
    Sync at the end makes its statements one implicit transaction, committed or failed as a whole
    (so PostgreSQL only); a single entry as a plain statement.
    """
    driver_error = engine.dialect.loaded_dbapi.Error
    connection = None
    with _storage_errors(action):
        try:
            # Unlike Connection, the pool hands on a failed connect's driver error unwrapped.
            connection = engine.raw_connection()
            if len(entries) == 1:
                statement, values = entries[0]
                cursor = connection.cursor()
                try:
                    cursor.execute(statement.sql, statement.params(values))
                    return [cursor.fetchone() if cursor.description else None]
                finally:
                    cursor.close()
            driver = connection.dbapi_connection
            cursors = []
            try:
                with driver.pipeline():
                    for statement, values in entries:
                        cursors.append(cursor := driver.cursor())
                        cursor.execute(statement.sql, statement.params(values))
                return [cursor.fetchone() if cursor.description else None for cursor in cursors]
            finally:
                for cursor in cursors:
                    cursor.close()
        except driver_error as error:
            if connection is not None and engine.dialect.is_disconnect(
                error, connection.dbapi_connection, None
            ):
                connection.invalidate(error)
            # SQLAlchemy's own wrapper (IntegrityError, OperationalError, ...), as Connection
            # would raise it, without the statement or its parameters: _storage_errors decides.
            raise DBAPIError.instance(None, None, error, driver_error) from error
        finally:
            if connection is not None:
                connection.close()  # back to the pool, or away if invalidated


class _Write(NamedTuple):
    statement: _DriverStatement
    action: str
    values: Mapping[str, Any]


class _Writes:
    """The sign-up's writes, inserts and settlements alike; on PostgreSQL, batched together.

    Under load the sign-up's two writes dominate the database's work and a good part of the
    worker's: batched across a worker's requests (app/batching.py), whatever writes are waiting,
    the records of new sign-ups and the outcomes of earlier ones, go as one round trip, one pool
    checkout and one commit. A batch that breaks a constraint is run again write by write, so only
    the request whose row broke it gets the error; one the database cannot take fails every
    request in it at once. A request waits for the batch ahead of its own as long as it would for
    a pooled connection.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.batcher = (
            Batcher(self._run_batch, self._run_one, CONNECT_TIMEOUT_SECONDS)
            if engine.dialect.name == "postgresql"
            else None
        )

    def __call__(
        self, statement: _DriverStatement, action: str, values: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        write = _Write(statement, action, values)
        if self.batcher is None:
            return self._run_one(write)
        try:
            return self.batcher.submit(write)
        except TimeoutError:
            logger.warning("Database %s failed: the batch before it did not finish", action)
            raise errors.StorageUnavailable(retry_after=STORAGE_RETRY_AFTER_SECONDS) from None

    @staticmethod
    def _run_one(write: _Write) -> tuple[Any, ...] | None:
        return write.statement.run(write.action, write.values)

    def _run_batch(self, batch: Sequence[_Write]) -> Sequence[Any]:
        action = " and ".join(dict.fromkeys(write.action for write in batch))
        try:
            return _run_together(
                self._engine, action, [(write.statement, write.values) for write in batch]
            )
        except errors.StorageUnavailable:
            return [
                errors.StorageUnavailable(retry_after=STORAGE_RETRY_AFTER_SECONDS) for _ in batch
            ]


# The signup record's columns as the sign-up path writes them: every one but the id.
_RECORD_COLUMNS = tuple(
    column.key for column in SignupRecord.__table__.columns if column.key != "id"
)
_EMPTY_RECORD = dict.fromkeys(_RECORD_COLUMNS)
_SETTLEMENT_COLUMNS = ("outcome", "user_sub", "error_code", "confirmed_at")


class SignupRecords(_Store):
    """The signup_records table."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._insert = _DriverStatement(
            engine, insert(SignupRecord).returning(SignupRecord.id), _RECORD_COLUMNS
        )
        self._settle = _DriverStatement(
            engine,
            update(SignupRecord).where(SignupRecord.id == bindparam("record_id")),
            _SETTLEMENT_COLUMNS,
        )
        self._writes = _Writes(engine)

    def add(self, row: Mapping[str, Any]) -> int:
        """Insert one record; ``row`` maps column names to values, the ones left out are NULL."""
        unknown = row.keys() - set(_RECORD_COLUMNS)
        if unknown:
            raise ValueError(f"not columns of a signup record: {sorted(unknown)}")
        inserted = self._writes(self._insert, "insert of a signup record", {**_EMPTY_RECORD, **row})
        assert inserted is not None  # INSERT ... RETURNING id
        return inserted[0]

    def settle(self, record_id: int, settlement: Settlement) -> None:
        """Record what Cognito answered to the attempt ``record_id``."""
        values = {"record_id": record_id, **vars(settlement)}
        self._writes(self._settle, "update of a signup record", values)

    def mark_confirmed(self, record_id: int, when: datetime) -> None:
        with self._session("confirmation of a signup record") as session:
            session.execute(
                update(SignupRecord)
                .where(SignupRecord.id == record_id, SignupRecord.outcome != "confirmed")
                .values(outcome="confirmed", confirmed_at=when)
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

    def report(
        self, by: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[ReportRow]:
        """Sign-ups and confirmations per value of ``by``, for sign-ups made in [since, until)."""
        if by not in REPORT_DIMENSIONS:
            raise ValueError(f"cannot report by {by!r}")
        group = getattr(SignupRecord, by)
        conditions = [SignupRecord.outcome.in_(SIGNED_UP)]
        if since is not None:
            conditions.append(SignupRecord.created_at >= since)
        if until is not None:
            conditions.append(SignupRecord.created_at < until)
        confirmed = func.sum(case((SignupRecord.outcome == "confirmed", 1), else_=0))
        query = (
            select(group, func.count(), confirmed)
            .where(*conditions)
            .group_by(group)
            .order_by(group.is_(None), group)
        )
        with self._session("signup report") as session:
            return [
                ReportRow(group=value, signups=signups, confirmed=int(confirmed or 0))
                for value, signups, confirmed in session.execute(query)
            ]


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
