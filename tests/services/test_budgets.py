"""Budgets the service spends just before Cognito: per identity, fleet-wide, confirm attempts.

Only requests that would reach Cognito spend them: validation failures, unknown fields and
refusals by another budget do not. Every test runs on memory:// and on the machine's Redis, which
spend budgets by different code (limits' API; one script call); tests/test_shared_limits.py runs
them across app instances on Redis.
"""

import threading
import time

import pytest

from app import create_app
from app.config import AbuseSettings
from app.errors import RateLimitsUnavailable
from app.services.budgets import Budgets
from tests.conftest import signup_body
from tests.support.servers import free_port

EMAIL = "ada@example.com"


def ip(n):
    return {"REMOTE_ADDR": f"203.0.113.{n}"}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def settings(request, settings):
    """The conftest settings, with the budgets counted in memory:// or in Redis."""
    if request.param == "memory":
        return {**settings, "RATELIMIT_STORAGE_URI": "memory://"}
    return {
        **settings,
        "RATELIMIT_STORAGE_URI": request.getfixturevalue("redis_url"),
        "RATELIMIT_KEY_PREFIX": request.getfixturevalue("redis_prefix"),
    }


def app_client(settings, **limits):
    env = {
        **settings,
        "SIGNUP_RATE_LIMIT_PER_IP": "1000/minute",
        "SIGNUP_RATE_LIMIT_PER_IDENTITY": "1000/minute",
        **{f"SIGNUP_RATE_LIMIT_{name.upper()}": value for name, value in limits.items()},
    }
    return create_app(env).test_client()


@pytest.fixture
def client(settings):
    return app_client(settings, per_identity="3/hour")


def test_the_identity_budget_counts_register_and_resend_together_from_any_ip(client, cognito):
    assert client.post("/register", json=signup_body(), environ_base=ip(1)).status_code == 201
    for n in (2, 3):
        response = client.post("/register/resend", json={"username": EMAIL}, environ_base=ip(n))
        assert response.status_code == 200

    refused = client.post("/register/resend", json={"username": EMAIL}, environ_base=ip(4))

    assert refused.status_code == 429
    assert refused.json["code"] == "rate_limited"
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert len(cognito.calls("ResendConfirmationCode")) == 2


def test_the_identity_budget_ignores_the_case_of_an_email(client, cognito):
    for n, email in enumerate(["ada@example.com", "Ada@Example.com", "ADA@EXAMPLE.COM"]):
        client.post("/register", json=signup_body(email=email), environ_base=ip(n))

    refused = client.post("/register", json=signup_body(email="aDa@example.com"))

    assert refused.status_code == 429
    assert len(cognito.calls("SignUp")) == 3


def test_new_usernames_do_not_open_new_budgets_for_one_email(client, cognito):
    for username in ("ada", "lovelace", "countess"):
        client.post("/register", json=signup_body(username=username))

    assert client.post("/register", json=signup_body(username="byron")).status_code == 429


def test_resends_under_a_username_count_with_its_sign_up(client, cognito):
    client.post("/register", json=signup_body(username="ada"))
    for _ in range(2):
        client.post("/register/resend", json={"username": "ada"})

    assert client.post("/register/resend", json={"username": "ada"}).status_code == 429


def test_a_phone_number_has_a_budget_too(client, cognito):
    for n in range(3):
        body = signup_body(email=f"u{n}@example.com", phone_number="+14155550100")
        client.post("/register", json=body)

    refused = client.post(
        "/register", json=signup_body(email="u9@example.com", phone_number="+14155550100")
    )

    assert refused.status_code == 429


def test_other_identities_are_not_affected(client, cognito):
    for _ in range(4):
        client.post("/register", json=signup_body())

    assert client.post("/register", json=signup_body(email="grace@example.com")).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        signup_body(password="has space"),
        signup_body(unexpected="x"),
        signup_body(attributes={"custom:plan": "pro"}),  # not allowlisted
        signup_body(client_metadata={"campaign": "x"}),  # not allowlisted
        signup_body(phone_number="0044"),
    ],
    ids=["password", "unknown-field", "custom-attribute", "client-metadata", "phone"],
)
def test_requests_refused_before_cognito_spend_no_identity_budget(settings, cognito, body):
    client = app_client(settings, per_identity="1/hour")
    for _ in range(5):
        assert client.post("/register", json=body).status_code == 422

    assert client.post("/register", json=signup_body()).status_code == 201


def test_the_fleet_wide_cap_answers_503_busy_with_retry_after(settings, cognito):
    client = app_client(settings, **{"global": "2/minute"})
    for n in range(2):
        body = signup_body(email=f"u{n}@example.com")
        assert client.post("/register", json=body, environ_base=ip(n)).status_code == 201

    refused = client.post("/register", json=signup_body(email="u9@example.com"), environ_base=ip(9))

    assert refused.status_code == 503
    assert refused.json["code"] == "busy"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert len(cognito.calls("SignUp")) == 2


def test_the_fleet_wide_cap_counts_every_call_to_cognito(settings, cognito):
    client = app_client(settings, **{"global": "3/minute"})
    client.post("/register", json=signup_body())
    client.post("/register/resend", json={"username": EMAIL})
    client.post("/register/confirm", json={"username": EMAIL, "code": "000000"})

    refused = client.post("/register", json=signup_body(email="grace@example.com"))

    assert refused.status_code == 503


def test_a_refusal_by_one_budget_spends_none_of_the_others(settings, cognito):
    client = app_client(settings, per_identity="1/hour", **{"global": "2/minute"})
    client.post("/register", json=signup_body())
    for _ in range(3):  # refused by the identity budget: the fleet's stays at one spent
        assert client.post("/register", json=signup_body()).status_code == 429

    assert client.post("/register", json=signup_body(email="grace@example.com")).status_code == 201


@pytest.fixture
def confirm_client(settings):
    return app_client(settings, confirm_per_username="3/hour")


def test_confirmation_attempts_per_username_are_limited(confirm_client, cognito):
    confirm_client.post("/register", json=signup_body())
    for n in range(3):
        body = {"username": EMAIL, "code": "00000x"}
        assert (
            confirm_client.post("/register/confirm", json=body, environ_base=ip(n)).status_code
            == 422
        )

    right_code = {"username": EMAIL, "code": cognito.code_for(EMAIL)}
    refused = confirm_client.post("/register/confirm", json=right_code, environ_base=ip(9))

    assert refused.status_code == 429
    assert refused.json["code"] == "rate_limited"
    assert len(cognito.calls("ConfirmSignUp")) == 3


def test_unknown_usernames_spend_confirm_attempts_like_known_ones(confirm_client, cognito):
    for _ in range(3):
        confirm_client.post("/register/confirm", json={"username": "nobody", "code": "123456"})

    refused = confirm_client.post("/register/confirm", json={"username": "nobody", "code": "1"})

    assert refused.status_code == 429


def test_an_unreachable_rate_limit_storage_is_a_quick_503(settings, cognito):
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app({**settings, "RATELIMIT_STORAGE_URI": unreachable})

    started = time.monotonic()
    response = app.test_client().post("/register", json=signup_body())

    assert response.status_code == 503
    assert response.json["code"] == "temporarily_unavailable"
    assert response.headers["Retry-After"] == "1"
    assert time.monotonic() - started < 3
    assert cognito.received == []


def test_a_compatibility_variant_of_an_email_spends_the_same_budget(client, cognito):
    # Fullwidth letters reach Cognito as sent, but Cognito and the records see one person.
    variant = "\uff21\uff24\uff21@example.com"
    client.post("/register", json=signup_body(), environ_base=ip(1))
    for n in (2, 3):
        client.post("/register/resend", json={"username": variant}, environ_base=ip(n))

    refused = client.post("/register/resend", json={"username": variant}, environ_base=ip(4))

    assert refused.status_code == 429


@pytest.mark.redis
@pytest.mark.parametrize("settings", ["redis"], indirect=True)  # memory:// lacks the guarantee
def test_on_redis_requests_refused_by_the_fleet_cap_spend_no_identity_budget(settings, cognito):
    # Spent one window at a time, a request could pass every test, spend its identity's window
    # and then lose the fleet's to a concurrent one: refused, yet its identity budget spent.
    client = app_client(settings, per_identity="1/hour", **{"global": "4/2second"})
    emails = [f"u{n}@example.com" for n in range(12)]
    answers = {}

    def sign_up(email):
        answers[email] = client.post("/register", json=signup_body(email=email)).status_code

    threads = [threading.Thread(target=sign_up, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [email for email in emails if answers[email] == 503]
    time.sleep(2.1)  # the fleet's window has room again; the identities' never went away

    assert len(refused) == 8
    assert [
        client.post("/register", json=signup_body(email=email)).status_code for email in refused[:4]
    ] == [201] * 4


def test_an_unreachable_storage_while_spending_is_a_503_not_a_crash():
    budgets = Budgets.from_settings(AbuseSettings(storage_uri=f"redis://127.0.0.1:{free_port()}/0"))

    with pytest.raises(RateLimitsUnavailable):
        budgets.before_code_sent(["ada@example.com"])
