"""Databases for tests: SQLite files and fresh PostgreSQL databases, migrated like production.

PostgreSQL is the real server on 127.0.0.1:5432 (user postgres; TEST_POSTGRES_URL names another
maintenance database). Each test run creates databases with unique names and drops only those.
Under CI=true a missing server fails the run; locally the PostgreSQL tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import flask_migrate
import psycopg
import pytest
from flask import Flask
from psycopg import sql
from sqlalchemy import Engine, MetaData, Table, create_engine, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.storage.db import db

POSTGRES_ADMIN = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TABLES = ("signup_records", "idempotency_keys")


def require_postgres() -> None:
    """Skip (locally) or fail (CI=true) unless the PostgreSQL server answers."""
    try:
        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3):
            pass
    except psycopg.OperationalError as error:
        where = make_url(POSTGRES_ADMIN).render_as_string(hide_password=True)
        message = f"PostgreSQL at {where} is needed: {type(error).__name__}"
        from tests.conftest import in_ci  # conftest imports this module: import late

        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database for this run only; its SQLAlchemy URL. Dropped afterwards."""
    require_postgres()
    name = f"signup_test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(POSTGRES_ADMIN).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def app_for(url: str) -> Iterator[Flask]:
    """An app (no user pool needed) on ``url``, its connections closed afterwards."""
    app = create_app({"DATABASE_URL": url})
    try:
        with app.app_context():
            yield app
    finally:
        with app.app_context():
            db.engine.dispose()


def migrate(url: str, revision: str = "head") -> None:
    """What `flask --app wsgi db upgrade` does, in this process."""
    with app_for(url):
        flask_migrate.upgrade(revision=revision)


def downgrade(url: str, revision: str = "base") -> None:
    with app_for(url):
        flask_migrate.downgrade(revision=revision)


def copy_sqlite(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def empty_tables(url: str) -> None:
    with engine_for(url) as engine, engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    with engine_for(url) as engine:
        metadata = MetaData()
        metadata.reflect(engine)
        return set(metadata.tables)


def dump(url: str) -> str:
    """Every row of every table, as text: what someone with a copy of the database can read."""
    with engine_for(url) as engine, engine.connect() as connection:
        metadata = MetaData()
        metadata.reflect(connection)
        lines = []
        for table in metadata.sorted_tables:
            lines.extend(f"{table.name}: {tuple(row)}" for row in connection.execute(select(table)))
        return "\n".join(lines)


def rows(url: str, table: str) -> list[dict[str, object]]:
    """A table's rows as dicts, in insertion order (by the first primary key column)."""
    with engine_for(url) as engine, engine.connect() as connection:
        metadata = MetaData()
        reflected = Table(table, metadata, autoload_with=connection)
        order = list(reflected.primary_key.columns)
        return [
            dict(row._mapping) for row in connection.execute(select(reflected).order_by(*order))
        ]


def backends_of(url: str, *, waiting_for_lock: bool = False) -> list[int]:
    """The server processes of every connection to the database at ``url``; with
    ``waiting_for_lock``, only those whose statement waits for a lock."""
    query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    if waiting_for_lock:
        query += " AND wait_event_type = 'Lock'"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        found = admin.execute(query, (make_url(url).database,)).fetchall()
    return [pid for (pid,) in found]


def terminate(pids: list[int]) -> None:
    """End those server processes, as an administrator or a restart would, and return once they
    have exited: by then each has sent its connection's goodbye and closed it. Without the wait,
    a test could use a connection whose process had been signalled but not yet ended."""
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        for pid in pids:
            ended = admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()
            assert ended == (True,), f"server process {pid} did not end within 5 s"
