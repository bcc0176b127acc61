"""The limiter_window patch: the per-IP hit and the read of its window in one Redis round trip."""

import time

import pytest
import redis
from limits import strategies

from app import create_app
from app.serving import limiter_window
from tests.conftest import signup_body

pytestmark = pytest.mark.redis


@pytest.fixture
def shared(settings, redis_url, redis_prefix, monkeypatch):
    monkeypatch.setitem(
        strategies.STRATEGIES, "moving-window", strategies.STRATEGIES["moving-window"]
    )
    limiter_window.install()  # undone by monkeypatch after the test
    return {
        **settings,
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": redis_prefix,
        "SIGNUP_RATE_LIMIT_PER_IP": "1000/minute",
        "SIGNUP_RATE_LIMIT_PER_IDENTITY": "1000/minute",
    }


def scripts_run(redis_url: str) -> int:
    stats = redis.Redis.from_url(redis_url).info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))


def test_a_sign_up_asks_redis_twice_the_per_ip_limit_and_the_budgets(shared, cognito, redis_url):
    """One call for the per-IP hit and the window its headers describe, one for every budget."""
    client = create_app(shared).test_client()
    client.post("/register", json=signup_body(email="warm@example.com"))  # scripts loaded
    before = scripts_run(redis_url)

    answer = client.post("/register", json=signup_body())

    assert answer.status_code == 201
    assert answer.headers["X-RateLimit-Remaining"] == "998"
    assert scripts_run(redis_url) - before == 2


def test_as_the_window_moves_on_its_expired_hits_are_dropped_and_count_no_more(
    shared, cognito, redis_url, redis_prefix
):
    client = create_app({**shared, "SIGNUP_RATE_LIMIT_PER_IP": "10/2 seconds"}).test_client()
    answers = [client.post("/register", json=signup_body(email=f"e{n}@x.test")) for n in range(3)]
    time.sleep(1.2)
    answers.append(client.post("/register", json=signup_body(email="middle@x.example")))
    time.sleep(1.0)  # the first three are past the window, the fourth is not

    answers.append(client.post("/register", json=signup_body(email="later@x.example")))

    assert [answer.status_code for answer in answers] == [201] * 5
    assert answers[-1].headers["X-RateLimit-Remaining"] == "8"
    store = redis.Redis.from_url(redis_url)
    (window,) = [key for key in store.keys(f"*{redis_prefix}*") if b"/signup/" in key]
    assert store.llen(window) == 2  # the three expired hits are gone, not just ignored
