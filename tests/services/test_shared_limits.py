"""Limits that hold across instances: two apps (as two workers or hosts would be) on one Redis.

Each test run uses its own key prefix on the machine's Redis and deletes its keys afterwards.
The memory:// case is the control: there each instance counts alone.
"""

import time

import pytest
import redis

from app import create_app
from tests.conftest import signup_body

pytestmark = pytest.mark.redis


@pytest.fixture
def shared(settings, redis_url, redis_prefix):
    return {
        **settings,
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": redis_prefix,
        "SIGNUP_RATE_LIMIT_PER_IP": "1000/minute",
        "SIGNUP_RATE_LIMIT_PER_IDENTITY": "1000/minute",
    }


def two_instances(env, **overrides):
    return [create_app({**env, **overrides}).test_client() for _ in range(2)]


@pytest.mark.parametrize(("storage", "shares"), [("redis", True), ("memory", False)])
def test_the_per_ip_budget_is_one_across_instances_only_with_shared_storage(
    shared, cognito, storage, shares
):
    env = shared if storage == "redis" else {**shared, "RATELIMIT_STORAGE_URI": "memory://"}
    first, second = two_instances(env, SIGNUP_RATE_LIMIT_PER_IP="4/minute")
    for n in range(4):
        instance = (first, second)[n % 2]
        assert (
            instance.post("/register", json=signup_body(email=f"u{n}@example.com")).status_code
            == 201
        )

    fifth = first.post("/register", json=signup_body(email="u9@example.com"))

    assert (fifth.status_code == 429) is shares


def test_the_identity_budget_holds_across_instances_and_addresses(shared, cognito):
    first, second = two_instances(shared, SIGNUP_RATE_LIMIT_PER_IDENTITY="3/hour")
    first.post("/register", json=signup_body(), environ_base={"REMOTE_ADDR": "203.0.113.1"})
    second.post(
        "/register/resend",
        json={"username": "ada@example.com"},
        environ_base={"REMOTE_ADDR": "203.0.113.2"},
    )
    first.post(
        "/register/resend",
        json={"username": "ada@example.com"},
        environ_base={"REMOTE_ADDR": "203.0.113.3"},
    )

    refused = second.post(
        "/register/resend",
        json={"username": "ada@example.com"},
        environ_base={"REMOTE_ADDR": "203.0.113.4"},
    )

    assert refused.status_code == 429
    assert len(cognito.calls("ResendConfirmationCode")) == 2


def test_the_fleet_wide_cap_holds_across_instances(shared, cognito):
    first, second = two_instances(shared, SIGNUP_RATE_LIMIT_GLOBAL="3/minute")
    for n in range(3):
        instance = (first, second)[n % 2]
        instance.post("/register", json=signup_body(email=f"u{n}@example.com"))

    refused = second.post("/register", json=signup_body(email="u9@example.com"))

    assert refused.status_code == 503
    assert refused.json["code"] == "busy"
    assert len(cognito.calls("SignUp")) == 3


def test_confirm_attempts_hold_across_instances(shared, cognito):
    first, second = two_instances(shared, SIGNUP_RATE_LIMIT_CONFIRM_PER_USERNAME="2/hour")
    first.post("/register/confirm", json={"username": "ada", "code": "1"})
    second.post("/register/confirm", json={"username": "ada", "code": "2"})

    assert first.post("/register/confirm", json={"username": "ada", "code": "3"}).status_code == 429


def test_redis_holds_no_email_address_or_phone_number(shared, cognito, redis_url, redis_prefix):
    client = create_app(shared).test_client()
    client.post("/register", json=signup_body(phone_number="+14155550100"))
    client.post("/register/resend", json={"username": "ada@example.com"})

    keys = [key.decode() for key in redis.Redis.from_url(redis_url).keys(f"*{redis_prefix}*")]

    assert any("identity" in key for key in keys)
    assert not [key for key in keys if "ada" in key.lower() or "4155550100" in key]


def test_the_rate_limit_headers_count_down_across_instances(shared, cognito):
    first, second = two_instances(shared, SIGNUP_RATE_LIMIT_PER_IP="3/minute")

    answers = [
        instance.post("/register", json=signup_body(email=f"u{n}@example.com"))
        for n, instance in enumerate((first, second, first, second))
    ]

    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
    assert {answer.headers["X-RateLimit-Limit"] for answer in answers} == {"3"}
    resets = [int(answer.headers["X-RateLimit-Reset"]) for answer in answers]
    assert len(set(resets)) == 1  # the first sign-up's entry leaves the window first
    assert time.time() < resets[0] <= time.time() + 61
    assert abs(int(answers[3].headers["Retry-After"]) - (resets[0] - time.time())) <= 1
