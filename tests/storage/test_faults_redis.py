"""The rate-limit storage failing, through gunicorn with two workers: a Redis server of our own,
killed mid-run and started again on the same port, and a Redis that stops answering.

The policy (issue 3) is fail-closed: without its counters the service cannot tell a flood from a
crowd, so it refuses sign-ups with a 503 ``temporarily_unavailable`` before Cognito is called,
rather than let an unguarded burst spend Cognito's quota and send codes to victims.
"""

from __future__ import annotations

import pytest

from tests.conftest import GENEROUS_LIMITS
from tests.support import databases
from tests.support.faults import (
    SLACK_SECONDS,
    MissingDependency,
    RedisServer,
    TcpProxy,
    call,
    require,
    sign_up,
    wait_until,
)
from tests.support.servers import Gunicorn, clean_environment

pytestmark = pytest.mark.redis

# The storage's socket timeouts are one second (app/services/budgets.py).
STORAGE_TIMEOUT_SECONDS = 1.0


@pytest.fixture(scope="module")
def redis_server():
    try:
        server = RedisServer()
    except MissingDependency as error:
        require(error)
    with server:
        yield server


@pytest.fixture(scope="module")
def redis_proxy(redis_server):
    with TcpProxy(redis_server.port) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def served(cognito_server, redis_proxy, tmp_path_factory):
    env = clean_environment(
        **cognito_server.settings(),
        **GENEROUS_LIMITS,
        RATELIMIT_STORAGE_URI=f"redis://{redis_proxy.url_host}/0",
        WEB_CONCURRENCY="2",
    )
    with Gunicorn(env, tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis(redis_server, redis_proxy):
    """The private Redis, running and reachable at the start and the end of each test."""
    redis_proxy.restore()
    yield redis_server
    if not _answers(redis_server):
        redis_server.start()
    redis_proxy.restore()


def _answers(server: RedisServer) -> bool:
    import redis as client

    connection = client.Redis.from_url(server.url, socket_connect_timeout=0.5)
    try:
        return bool(connection.ping())
    except client.RedisError:
        return False
    finally:
        connection.close()


def record_count(server: Gunicorn) -> int:
    return len(databases.rows(f"sqlite:///{server.stdout.parent / 'signups.db'}", "signup_records"))


def test_with_redis_gone_sign_ups_are_refused_quickly_before_cognito(served, cognito, redis):
    assert sign_up(served.base).status == 201
    before = record_count(served)
    redis.kill()

    answers = [sign_up(served.base) for _ in range(4)]  # reaches both workers

    assert {(a.status, a.body["code"]) for a in answers} == {(503, "temporarily_unavailable")}
    assert {a.headers["retry-after"] for a in answers} == {"1"}
    assert max(a.seconds for a in answers) < STORAGE_TIMEOUT_SECONDS + SLACK_SECONDS
    assert len(cognito.calls("SignUp")) == 1
    assert record_count(served) == before  # refused before a record was opened


def test_when_redis_comes_back_sign_ups_work_without_a_restart(served, cognito, redis):
    sign_up(served.base)
    redis.kill()
    sign_up(served.base)

    redis.start()

    # Every worker's pooled connections died with the server: each must reconnect by itself.
    answers = [sign_up(served.base) for _ in range(6)]
    assert [a.status for a in answers] == [201] * 6


def test_a_redis_that_stops_answering_is_a_503_within_its_timeout(served, cognito, redis_proxy):
    redis_proxy.stall()

    answer = sign_up(served.base)

    assert (answer.status, answer.body["code"]) == (503, "temporarily_unavailable")
    assert answer.seconds < STORAGE_TIMEOUT_SECONDS * 2 + SLACK_SECONDS
    assert cognito.calls("SignUp") == []
    redis_proxy.restore()
    wait_until(lambda: sign_up(served.base).status == 201, timeout=10)


def test_probes_report_the_storage_and_liveness_stays_up(served, cognito, redis):
    redis.kill()

    ready, alive = call(f"{served.base}/readyz"), call(f"{served.base}/healthz")

    assert (ready.status, ready.body["checks"]["rate_limit_storage"]) == (503, "failed")
    assert alive.status == 200  # an orchestrator must not restart a healthy process for this


def test_a_restarted_redis_has_forgotten_every_window(make_app, cognito, redis):
    # Without persistence the counters die with the server: limits start again from zero. The
    # price of an in-memory store, paid only when Redis restarts; persistence would keep them.
    app = make_app(RATELIMIT_STORAGE_URI=redis.url, SIGNUP_RATE_LIMIT_PER_IP="2/hour")
    client = app.test_client()
    for n in range(2):
        client.post("/register", json={"email": f"w{n}@example.com", "password": "Correct-h0rse"})
    limited = client.post(
        "/register", json={"email": "w2@example.com", "password": "Correct-h0rse"}
    )

    redis.kill()
    redis.start()
    after = client.post("/register", json={"email": "w3@example.com", "password": "Correct-h0rse"})

    assert (limited.status_code, after.status_code) == (429, 201)
