"""gunicorn and rate-limit storage: several workers never get a budget each without saying so."""

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import forget_keys, signup_body
from tests.support.servers import Gunicorn, clean_environment, post, refused_start

# A pool that is never called: these tests only need the app to start.
POOL = {
    "COGNITO_USER_POOL_ID": "us-east-1_Unused1",
    "COGNITO_CLIENT_ID": "unusedclient",
    "COGNITO_CLIENT_SECRET": "unused-secret",
}


@pytest.mark.parametrize(
    ("env", "args"),
    [({"WEB_CONCURRENCY": "2"}, ()), ({}, ("--workers", "3"))],
    ids=["WEB_CONCURRENCY", "--workers"],
)
def test_several_workers_with_memory_storage_refuse_to_start(env, args):
    finished = refused_start(clean_environment(**POOL, **env), *args)

    assert finished.returncode != 0
    assert "RATELIMIT_STORAGE_URI" in finished.stdout + finished.stderr


def test_memory_storage_runs_one_worker_by_default(tmp_path):
    with Gunicorn(clean_environment(**POOL), tmp_path) as server:
        booted = re.findall(r"Booting worker with pid", server.output())

    assert len(booted) == 1


@pytest.mark.redis
def test_two_workers_on_redis_share_one_per_ip_budget(tmp_path, redis_url, cognito):
    prefix = f"test-{uuid.uuid4().hex}"
    env = clean_environment(
        **cognito.settings(),
        WEB_CONCURRENCY="2",
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_KEY_PREFIX=prefix,
        SIGNUP_RATE_LIMIT_PER_IP="4/minute",
    )
    # Sync workers serve one request at a time and Cognito takes a while to answer, so requests
    # sent all at once are spread over both workers (with memory:// this lets 8 through).
    cognito.delay_seconds = 0.3
    one_at_a_time = ("--worker-class", "sync", "--threads", "1")

    def sign_up(n: int) -> int:
        return post(f"{base}/register", signup_body(email=f"u{n}@example.com"))[0]

    try:
        with Gunicorn(env, tmp_path, *one_at_a_time) as server, ThreadPoolExecutor(12) as p:
            base = server.base
            statuses = list(p.map(sign_up, range(12)))
    finally:
        forget_keys(redis_url, prefix)

    assert sorted(statuses) == [201] * 4 + [429] * 8
    assert len(cognito.calls("SignUp")) == 4
