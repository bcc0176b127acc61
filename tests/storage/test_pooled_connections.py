"""Pooled PostgreSQL connections the server has closed are replaced before a sign-up uses them.

The pool holds connections between requests; PostgreSQL can end them at any time (a restart, a
failover, an administrator terminating backends). The next sign-up must not pay for it with a 503.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import GENEROUS_LIMITS, signup_body
from tests.support import databases
from tests.support.faults import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_database_url: str) -> str:
    return postgres_database_url


def test_a_sign_up_after_the_server_ended_the_pooled_connections_succeeds(
    client, cognito, database_url
):
    assert client.post("/register", json=signup_body(email="ada@example.com")).status_code == 201
    pooled = databases.backends_of(database_url)
    assert pooled, "the pool should keep the sign-up's connection"

    databases.terminate(pooled)
    response = client.post("/register", json=signup_body(email="grace@example.com"))

    assert response.status_code == 201
    assert len(cognito.calls("SignUp")) == 2
    assert not set(pooled) & set(databases.backends_of(database_url))


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
    databases.terminate(databases.backends_of(database_url))
    signing_up.join(timeout=30)

    assert [answer.status_code for answer in answers] == [201]
    assert [row["outcome"] for row in databases.rows(database_url, "signup_records")] == ["created"]


def test_a_sign_up_waits_for_a_pooled_connection_no_longer_than_a_connection_attempt(
    make_app, cognito, database_url
):
    # The only connection is stuck behind a lock: the next sign-up gets a 503 in about 3 s,
    # like one whose database does not answer, and never reaches Cognito.
    client = make_app(DATABASE_POOL_SIZE="1", **GENEROUS_LIMITS).test_client()
    with databases.engine_for(database_url) as engine, engine.connect() as locker:
        locker.exec_driver_sql("LOCK TABLE signup_records IN ACCESS EXCLUSIVE MODE")
        stuck = threading.Thread(
            target=lambda: client.post("/register", json=signup_body(email="stuck@example.com"))
        )
        stuck.start()
        wait_until(lambda: databases.backends_of(database_url, waiting_for_lock=True))

        answers = []

        def timed_sign_up():
            started = time.monotonic()
            answers.append(
                (client.post("/register", json=signup_body()), time.monotonic() - started)
            )

        waiting = threading.Thread(target=timed_sign_up)
        waiting.start()
        waiting.join(timeout=10)  # a request that does not give up must not hang the test
        locker.rollback()
    waiting.join(timeout=30)
    stuck.join(timeout=30)
    [(response, waited)] = answers

    assert (response.status_code, response.json["code"]) == (503, "storage_unavailable")
    assert 2.5 < waited < 6
    assert [call.params["Username"] for call in cognito.calls("SignUp")] == ["stuck@example.com"]
