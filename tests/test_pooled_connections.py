"""Pooled PostgreSQL connections the server has closed are replaced before a sign-up uses them.

The pool holds connections between requests; PostgreSQL can end them at any time (a restart, a
failover, an administrator terminating backends). The next sign-up must not pay for it with a 503.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests import databases
from tests.conftest import signup_body
from tests.faults import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_database_url: str) -> str:
    return postgres_database_url


def backends_of(url: str) -> list[int]:
    name = make_url(url).database
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return [pid for (pid,) in rows]


def terminate(pids: list[int]) -> None:
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as db:
        for pid in pids:
            db.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_sign_up_after_the_server_ended_the_pooled_connections_succeeds(
    client, cognito, database_url
):
    assert client.post("/register", json=signup_body(email="ada@example.com")).status_code == 201
    pooled = backends_of(database_url)
    assert pooled, "the pool should keep the sign-up's connection"

    terminate(pooled)
    response = client.post("/register", json=signup_body(email="grace@example.com"))

    assert response.status_code == 201
    assert len(cognito.calls("SignUp")) == 2
    assert not set(pooled) & set(backends_of(database_url))


def test_a_record_settled_after_the_server_ended_the_connection_is_not_left_pending(
    client, cognito, database_url
):
    # The connection that opened the record is back in the pool during the Cognito call; the
    # server ends it then, and the settling write must take a new one rather than fail.
    cognito.delay_seconds = 1
    answers = []
    signing_up = threading.Thread(
        target=lambda: answers.append(client.post("/register", json=signup_body()))
    )
    signing_up.start()
    wait_until(lambda: cognito.calls("SignUp"))
    terminate(backends_of(database_url))
    signing_up.join(timeout=30)

    assert [answer.status_code for answer in answers] == [201]
    assert [row["outcome"] for row in databases.rows(database_url, "signup_records")] == ["created"]
