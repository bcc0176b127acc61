"""Migrations: upgrade, downgrade to base and back, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app import MIGRATIONS
from app.storage.db import db
from tests.support import databases

TABLES = {"signup_records", "idempotency_keys"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no migration has touched yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        with databases.fresh_postgres_database() as url:
            yield url


def revisions_oldest_first() -> list[str]:
    script = ScriptDirectory(str(MIGRATIONS))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def test_upgrade_creates_the_tables(empty_database):
    databases.migrate(empty_database)

    assert databases.table_names(empty_database) >= TABLES


def test_downgrade_to_base_removes_every_table_and_upgrade_brings_them_back(empty_database):
    databases.migrate(empty_database)

    databases.downgrade(empty_database, "base")
    assert databases.table_names(empty_database) == {"alembic_version"}

    databases.migrate(empty_database)
    assert databases.table_names(empty_database) >= TABLES


def test_every_revision_downgrades_to_the_one_before(empty_database):
    tables_before = databases.table_names(empty_database) | {"alembic_version"}
    for revision in revisions_oldest_first():
        databases.migrate(empty_database, revision)
        databases.downgrade(empty_database, "-1")
        assert databases.table_names(empty_database) == tables_before
        databases.migrate(empty_database, revision)
        tables_before = databases.table_names(empty_database)


def test_the_models_and_the_migrations_agree(empty_database):
    databases.migrate(empty_database)

    with databases.app_for(empty_database), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)

    assert differences == []
