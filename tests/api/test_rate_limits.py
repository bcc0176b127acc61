"""The per-IP limit on /register, /register/confirm and /register/resend (flask-limiter).

Keyed by the same client IP Cognito is told about, so TRUSTED_PROXY_COUNT governs both and a
forged X-Forwarded-For changes nothing. One process, memory:// storage: every app has its own.
"""

import time

import pytest

from app import create_app
from tests.conftest import signup_body

PEER = {"REMOTE_ADDR": "198.51.100.4"}
PROXY = {"REMOTE_ADDR": "10.0.0.2"}


@pytest.fixture
def limited(settings):
    """Three requests per minute per IP; the other budgets out of the way."""
    return {
        **settings,
        "SIGNUP_RATE_LIMIT_PER_IP": "3/minute",
        "SIGNUP_RATE_LIMIT_PER_IDENTITY": "100/minute",
    }


@pytest.fixture
def client(limited):
    return create_app(limited).test_client()


@pytest.fixture
def behind_proxy(limited):
    return create_app({**limited, "TRUSTED_PROXY_COUNT": "1"}).test_client()


def register(client, n, **kwargs):
    return client.post("/register", json=signup_body(email=f"user{n}@example.com"), **kwargs)


def test_past_the_limit_a_429_in_the_error_shape_with_retry_after(client, cognito):
    for n in range(3):
        assert register(client, n, environ_base=PEER).status_code == 201

    refused = register(client, 3, environ_base=PEER)

    assert refused.status_code == 429
    assert set(refused.json) == {"status", "code", "message", "fields"}
    assert (refused.json["status"], refused.json["code"]) == (429, "rate_limited")
    assert "Try again in" in refused.json["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert len(cognito.calls("SignUp")) == 3


def test_a_refusal_carries_the_standard_rate_limit_headers(client, cognito):
    for n in range(3):
        register(client, n, environ_base=PEER)

    refused = register(client, 3, environ_base=PEER)

    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert time.time() < int(refused.headers["X-RateLimit-Reset"]) <= time.time() + 61
    assert refused.headers.getlist("X-RateLimit-Limit") == ["3"]


def test_answers_within_the_limit_say_what_is_left(client, cognito):
    remaining = [register(client, n).headers["X-RateLimit-Remaining"] for n in range(3)]

    assert remaining == ["2", "1", "0"]


def test_a_refused_plain_form_gets_a_readable_page(client, cognito):
    form = {"email": "ada@example.com", "password": "Correct-h0rse"}
    for _ in range(3):
        client.post("/register", data=form, headers={"Accept": "text/html"})

    refused = client.post("/register", data=form, headers={"Accept": "text/html"})

    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert "Too many requests" in refused.get_data(as_text=True)
    assert "Retry-After" in refused.headers


def test_register_confirm_and_resend_share_one_budget(client, cognito):
    register(client, 0)
    client.post("/register/resend", json={"username": "user0@example.com"})
    client.post("/register/confirm", json={"username": "user0@example.com", "code": "000000"})

    refused = client.post("/register/resend", json={"username": "user0@example.com"})

    assert refused.status_code == 429


def test_requests_refused_by_validation_still_count_per_ip(client, cognito):
    for _ in range(3):
        assert client.post("/register", json={"email": "nope"}).status_code == 422

    assert register(client, 0).status_code == 429
    assert cognito.received == []


def test_another_address_has_its_own_budget(client, cognito):
    for n in range(3):
        register(client, n, environ_base=PEER)

    assert register(client, 3, environ_base={"REMOTE_ADDR": "203.0.113.50"}).status_code == 201


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/", "/static/signup.js"]
)
def test_probes_scrapes_docs_and_pages_are_never_limited(client, cognito, path):
    answers = []
    for _ in range(6):
        with client.get(path) as response:  # closes the static file it may stream
            answers.append(response.status_code)

    assert 429 not in answers
    assert answers[0] == answers[-1] == 200


def test_health_checks_and_preflights_spend_nothing(client, cognito):
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        client.options("/register")

    assert [register(client, n).status_code for n in range(3)] == [201, 201, 201]


@pytest.mark.parametrize(
    "forged",
    [
        lambda n: {"X-Forwarded-For": f"6.6.6.{n}"},
        lambda n: {"X-Forwarded-For": f"6.6.6.{n}, 203.0.113.{n}"},
        lambda n: {"X-Forwarded-For": "not-an-address"},
    ],
    ids=["rotating", "rotating-chain", "malformed"],
)
def test_without_trusted_proxies_forged_forwarded_headers_change_nothing(client, cognito, forged):
    for n in range(3):
        register(client, n, environ_base=PEER, headers=forged(n))

    assert register(client, 3, environ_base=PEER, headers=forged(3)).status_code == 429


def test_behind_a_proxy_the_client_part_of_the_header_cannot_open_new_buckets(
    behind_proxy, cognito
):
    # The proxy appends the real client (198.51.100.4); whatever the client put left of it varies.
    for n in range(3):
        headers = {"X-Forwarded-For": f"6.6.6.{n}, 198.51.100.4"}
        assert register(behind_proxy, n, environ_base=PROXY, headers=headers).status_code == 201

    headers = {"X-Forwarded-For": "6.6.6.99, 198.51.100.4"}
    assert register(behind_proxy, 3, environ_base=PROXY, headers=headers).status_code == 429


def test_behind_a_proxy_each_real_client_has_its_own_budget(behind_proxy, cognito):
    for n in range(3):
        register(behind_proxy, n, environ_base=PROXY, headers={"X-Forwarded-For": "198.51.100.4"})

    other = register(
        behind_proxy, 3, environ_base=PROXY, headers={"X-Forwarded-For": "198.51.100.5"}
    )

    assert other.status_code == 201
    assert cognito.calls("SignUp")[-1].params["UserContextData"]["IpAddress"] == "198.51.100.5"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Forwarded-For": "not-an-address"},
        {"X-Forwarded-For": "999.1.1.1"},
        {"X-Forwarded-For": "198.51.100.4:4711"},
        {"X-Forwarded-For": "6.6.6.6, "},
    ],
    ids=["missing", "garbage", "out-of-range", "with-port", "empty-hop"],
)
def test_behind_a_proxy_unresolvable_addresses_share_the_proxy_bucket(
    behind_proxy, cognito, headers
):
    # Spend the unresolved bucket with varied malformed headers, then try the one under test.
    for n, varied in enumerate(["bad-1", "bad-2", ""]):
        register(behind_proxy, n, environ_base=PROXY, headers={"X-Forwarded-For": varied})

    refused = register(behind_proxy, 3, environ_base=PROXY, headers=headers)

    assert refused.status_code == 429
    assert "IpAddress" not in cognito.calls("SignUp")[0].params.get("UserContextData", {})
