"""A short soak (`make soak` runs the long one): mixed traffic through gunicorn while Cognito,
Redis and PostgreSQL fail in turn, then reconciliation; the records must match what the strict
double holds, and no answer may be a bug (bench/soak.py says what is checked)."""

from __future__ import annotations

import pytest

from bench import soak
from tests.support import databases
from tests.support.faults import MissingDependency, require

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SECONDS = 15


def test_a_short_soak_with_every_fault_ends_with_records_matching_cognito(tmp_path):
    with databases.fresh_postgres_database() as url:
        try:
            with soak.stand(url, tmp_path) as running:
                problems = soak.run(running, SECONDS, concurrency=8, faults=True, log=print)
                users = running.cognito.users()
        except MissingDependency as error:
            require(error)

    assert problems == []
    assert len(users) > 50  # the traffic really created users
