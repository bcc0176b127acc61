"""The service's PostgreSQL going away and coming back, through gunicorn: a TCP proxy of our own
between the service and the machine's server is cut (refused, as a restart or failover looks),
stalled (accepts, never answers) and restored. The machine's PostgreSQL itself is never touched.

A sign-up is recorded before Cognito is called, so while the database is away sign-ups are
refused with a 503 and no Cognito user is created that the service has no record of.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import GENEROUS_LIMITS
from tests.support import databases
from tests.support.faults import SLACK_SECONDS, TcpProxy, call, sign_up, wait_until
from tests.support.servers import ROOT, Gunicorn, clean_environment

pytestmark = pytest.mark.postgres

# app/storage/repository.py: a new connection gives up after this long.
CONNECT_TIMEOUT_SECONDS = 3.0


@pytest.fixture(scope="module")
def database():
    with databases.fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def postgres_proxy(database):
    with TcpProxy(make_url(database).port or 5432) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def served(cognito_server, database, postgres_proxy, tmp_path_factory):
    proxied = make_url(database).set(port=postgres_proxy.port)
    env = clean_environment(
        **cognito_server.settings(),
        **GENEROUS_LIMITS,
        DATABASE_URL=proxied.render_as_string(hide_password=False),
    )
    with Gunicorn(env, tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def proxy(postgres_proxy, database):
    postgres_proxy.restore()
    databases.empty_tables(database)
    yield postgres_proxy
    postgres_proxy.restore()


def test_with_the_database_gone_sign_ups_are_refused_before_cognito(served, cognito, proxy):
    assert sign_up(served.base).status == 201  # the pool holds a live connection, then it dies
    proxy.cut()

    answers = [sign_up(served.base) for _ in range(3)]

    assert {(a.status, a.body["code"]) for a in answers} == {(503, "storage_unavailable")}
    assert {a.headers["retry-after"] for a in answers} == {"5"}
    assert max(a.seconds for a in answers) < SLACK_SECONDS
    assert len(cognito.calls("SignUp")) == 1


def test_when_the_database_comes_back_sign_ups_work_without_a_restart(
    served, cognito, proxy, database
):
    sign_up(served.base)
    proxy.cut()
    sign_up(served.base)

    proxy.restore()

    answers = [sign_up(served.base) for _ in range(3)]
    assert [a.status for a in answers] == [201] * 3
    created = [r for r in databases.rows(database, "signup_records") if r["outcome"] == "created"]
    assert len(created) == len(cognito.calls("SignUp")) == 4


def test_a_database_that_stops_answering_is_a_503_within_the_connect_timeout(
    served, cognito, proxy
):
    proxy.stall()

    answer = sign_up(served.base)

    assert (answer.status, answer.body["code"]) == (503, "storage_unavailable")
    assert answer.seconds < CONNECT_TIMEOUT_SECONDS + SLACK_SECONDS
    assert cognito.calls("SignUp") == []
    proxy.restore()
    wait_until(lambda: sign_up(served.base).status == 201, timeout=CONNECT_TIMEOUT_SECONDS * 3)


def test_while_a_sign_up_waits_on_the_database_the_worker_answers_others(
    served, cognito, proxy, database
):
    # One worker here (memory:// rate limits), serving requests in gevent's greenlets: a driver
    # waiting for PostgreSQL without yielding to them would stall every request of the worker.
    # A lock held elsewhere (a migration, a long report) makes the sign-up's insert wait.
    assert sign_up(served.base).status == 201  # connected: the wait below is a query's
    with databases.engine_for(database) as engine, engine.connect() as locker:
        locker.exec_driver_sql("LOCK TABLE signup_records IN ACCESS EXCLUSIVE MODE")
        waiting: list = []
        stuck = threading.Thread(target=lambda: waiting.append(sign_up(served.base)))
        stuck.start()
        wait_until(lambda: len(databases.backends_of(database, waiting_for_lock=True)) == 1)

        health = call(f"{served.base}/healthz")
        locker.rollback()  # releases the lock
    stuck.join(timeout=30)

    assert (health.status, health.seconds < 1) == (200, True)
    assert waiting[0].status == 201


def test_readiness_reports_the_database_and_liveness_stays_up(served, cognito, proxy):
    proxy.cut()

    ready, alive = call(f"{served.base}/readyz"), call(f"{served.base}/healthz")

    assert ready.status == 503
    assert "failed" in ready.body["checks"].values()
    assert alive.status == 200


def test_when_the_database_goes_away_during_the_cognito_call_nothing_is_lost(
    served, cognito, proxy, database
):
    # Opened before the call, then the write after it fails: the client still gets Cognito's
    # answer (the user exists), the record stays pending, and the log says how to repair it.
    cognito.delay_seconds = 1
    answers: list = []
    client = threading.Thread(
        target=lambda: answers.append(sign_up(served.base, "ada@example.com"))
    )
    client.start()
    wait_until(lambda: cognito.calls("SignUp"))
    proxy.cut()
    client.join(timeout=30)
    proxy.restore()
    [pending] = databases.rows(database, "signup_records")

    repaired = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "signups", "reconcile", "--from-log", "-"],
        cwd=ROOT,
        env=clean_environment(DATABASE_URL=database),
        input=served.stdout.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert answers[0].status == 201
    assert pending["outcome"] == "pending"
    assert repaired.returncode == 0, repaired.stderr
    [record] = databases.rows(database, "signup_records")
    assert (record["outcome"], record["user_sub"]) == (
        "created",
        cognito.sub_for("ada@example.com"),
    )
