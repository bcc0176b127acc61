"""`flask --app wsgi signups purge` against known records, on both backends; the report has
tests/test_conversion_report.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import databases
from tests.support.servers import ROOT


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["signups", *args])


@pytest.fixture
def aged_data(app):
    """Records made 100, 89 and 1 days ago; one expired and one live idempotency key."""
    now = datetime.now(UTC)
    records = app.extensions["signup_records"]
    for days in (100, 89, 1):
        records.add(
            {
                "created_at": now - timedelta(days=days),
                "identity_hash": f"{days:064x}",
                "outcome": "created",
                "client_kind": "json",
            }
        )
    keys = app.extensions["idempotency_keys"]
    keys.claim("expired", "0" * 64, now - timedelta(days=2), now - timedelta(days=1))
    keys.claim("live", "0" * 64, now, now + timedelta(hours=1))


def ages_left(database_url: str) -> list[int]:
    """Age in days of each record left; SQLite hands back naive UTC."""
    now = datetime.now(UTC)
    created = [row["created_at"] for row in databases.rows(database_url, "signup_records")]
    return [(now - (when if when.tzinfo else when.replace(tzinfo=UTC))).days for when in created]


def test_purge_deletes_records_past_the_default_90_days(app, aged_data, database_url):
    result = run(app, "purge")

    assert result.exit_code == 0
    assert ages_left(database_url) == [89, 1]
    assert "Deleted 1 signup records" in result.output


def test_purge_takes_the_retention_from_the_command_line(app, aged_data, database_url):
    run(app, "purge", "--older-than", "2d")

    assert ages_left(database_url) == [1]


def test_purge_takes_the_default_retention_from_the_setting(make_app, aged_data, database_url):
    run(make_app(SIGNUP_RECORD_RETENTION="30d"), "purge")

    assert ages_left(database_url) == [1]


def test_purge_deletes_expired_idempotency_keys_only(app, aged_data, database_url):
    result = run(app, "purge")

    assert [row["key"] for row in databases.rows(database_url, "idempotency_keys")] == ["live"]
    assert "1 expired idempotency keys" in result.output


@pytest.mark.parametrize("value", ["soon", "0d", "-5d", "3w"])
def test_a_bad_retention_is_a_usage_error(app, aged_data, database_url, value):
    result = run(app, "purge", "--older-than", value)

    assert result.exit_code == 2
    assert len(ages_left(database_url)) == 3


def pool_settings(cognito) -> dict[str, str]:
    """A user pool: building its boto3 client makes botocore log at INFO."""
    return cognito.settings()


@pytest.mark.parametrize(("environment", "logger"), [(pool_settings, "botocore")])
def test_report_json_is_pure_json_on_stdout_and_the_logs_go_to_stderr(
    sqlite_database_url, cognito, environment, logger
):
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COGNITO_", "AWS_"))
    }
    env |= {"DATABASE_URL": sqlite_database_url, "LOG_LEVEL": "DEBUG", **environment(cognito)}
    command = (sys.executable, "-m", "flask", "--app", "wsgi", "signups", "report", "--json")

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)  # noqa: S603

    assert json.loads(done.stdout)["groups"] == []
    log_lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(line["logger"].startswith(logger) for line in log_lines)
