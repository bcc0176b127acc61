"""GET /metrics: sign-up outcomes, Cognito latency, invalid fields and rate-limit refusals.

Counters live for the whole test process, so each test compares a value before and after.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from tests.conftest import signup_body


def scrape(client: FlaskClient) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


class Meter:
    """Reads one series before and after the behaviour under test."""

    def __init__(self, client: FlaskClient, name: str, **labels: str) -> None:
        self._client, self._key = client, (name, frozenset(labels.items()))
        self._before = scrape(client).get(self._key, 0.0)

    def increase(self) -> float:
        return scrape(self._client).get(self._key, 0.0) - self._before


@pytest.fixture
def settings(settings: dict[str, str]) -> dict[str, str]:
    """Existing accounts are not hidden, so each outcome can be produced."""
    return {**settings, "SIGNUP_HIDE_EXISTING_USERS": "false"}


def test_the_answer_is_prometheus_text(client):
    response = client.get("/metrics")

    assert response.mimetype == "text/plain"
    assert "# TYPE signup_requests_total counter" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("script", "body", "outcome"),
    [
        (None, signup_body(), "success"),
        ("UsernameExistsException", signup_body(), "username_exists"),
        ("TooManyRequestsException", signup_body(), "upstream_throttled"),
        (None, signup_body(email="not-an-email"), "invalid_fields"),
    ],
)
def test_signups_are_counted_by_outcome(client, cognito, script, body, outcome):
    meter = Meter(client, "signup_requests_total", step="register", outcome=outcome)
    if script:
        cognito.fail_next("SignUp", script)

    client.post("/register", json=body)

    assert meter.increase() == 1


def test_confirmations_are_counted_as_their_own_step(client, cognito):
    client.post("/register", json=signup_body())
    meter = Meter(client, "signup_requests_total", step="confirm", outcome="code_mismatch")

    client.post("/register/confirm", json={"username": "ada@example.com", "code": "000000"})

    assert meter.increase() == 1


@pytest.mark.parametrize(
    ("script", "error_code"),
    [(None, "none"), ("UsernameExistsException", "UsernameExistsException")],
)
def test_cognito_calls_are_timed_by_operation_and_error_code(client, cognito, script, error_code):
    meter = Meter(
        client,
        "signup_cognito_request_duration_seconds_count",
        operation="SignUp",
        error_code=error_code,
    )
    if script:
        cognito.fail_next("SignUp", script)

    client.post("/register", json=signup_body())

    assert meter.increase() == 1


def test_a_cognito_timeout_is_timed_as_a_timeout(settings, cognito):
    client = create_app({**settings, "COGNITO_TIMEOUT_SECONDS": "0.2"}).test_client()
    meter = Meter(
        client,
        "signup_cognito_request_duration_seconds_count",
        operation="ConfirmSignUp",
        error_code="timeout",
    )
    cognito.delay_seconds = 1

    client.post("/register/confirm", json={"username": "ada", "code": "123456"})

    assert meter.increase() == 1


def test_an_unknown_upstream_error_code_is_labelled_other(client, cognito):
    meter = Meter(
        client,
        "signup_cognito_request_duration_seconds_count",
        operation="SignUp",
        error_code="other",
    )
    cognito.fail_next("SignUp", "SomethingNewException")

    client.post("/register", json=signup_body())

    assert meter.increase() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (signup_body(email="not-an-email"), "email"),
        (signup_body(attributes={"plan": "x"}), "attributes"),
        (signup_body(nmae="typo"), "other"),
    ],
)
def test_validation_failures_are_counted_by_field(client, cognito, body, field):
    meter = Meter(client, "signup_validation_failures_total", field=field)

    client.post("/register", json=body)

    assert meter.increase() == 1


def test_a_password_the_pool_refuses_counts_as_a_password_failure(client, cognito):
    meter = Meter(client, "signup_validation_failures_total", field="password")

    client.post("/register", json=signup_body(password="alllowercase1"))

    assert meter.increase() == 1


def test_nothing_a_client_typed_becomes_a_label(client, cognito):
    client.post("/register", json=signup_body(email="leak@example.com", **{"leak-field": "v"}))
    client.post("/register", json=signup_body(attributes={"custom:leakkey": "leak-value"}))

    assert "leak" not in client.get("/metrics").get_data(as_text=True)


@pytest.mark.parametrize(
    ("limits", "path", "body", "label"),
    [
        ({"SIGNUP_RATE_LIMIT_PER_IP": "1/day"}, "/register", signup_body(), "per_ip"),
        (
            {"SIGNUP_RATE_LIMIT_PER_IDENTITY": "1/day"},
            "/register/resend",
            {"username": "ada@example.com"},
            "identity",
        ),
        (
            {"SIGNUP_RATE_LIMIT_CONFIRM_PER_USERNAME": "1/day"},
            "/register/confirm",
            {"username": "ada", "code": "1"},
            "confirm",
        ),
    ],
)
def test_rate_limit_refusals_are_counted_by_limit(settings, cognito, limits, path, body, label):
    client = create_app({**settings, **limits}).test_client()
    meter = Meter(client, "signup_rate_limited_total", limit=label)
    client.post(path, json=body)

    refused = client.post(path, json=body)

    assert refused.status_code == 429
    assert meter.increase() == 1


def test_cognitos_own_too_many_attempts_is_not_a_rate_limit_of_ours(client, cognito):
    meter = Meter(client, "signup_rate_limited_total", limit="unknown")
    cognito.fail_next("ConfirmSignUp", "TooManyFailedAttemptsException")

    refused = client.post("/register/confirm", json={"username": "ada", "code": "1"})

    assert refused.status_code == 429
    assert meter.increase() == 0


def test_sign_ins_are_counted_by_outcome(client, cognito):
    signed_in = Meter(client, "signup_sign_ins_total", outcome="signed_in")
    no_handle = Meter(client, "signup_sign_ins_total", outcome="no_handle")
    handle = client.post("/register", json=signup_body()).json["sign_in_handle"]
    code = cognito.code_for("ada@example.com")
    client.post(
        "/register/confirm",
        json={"username": "ada@example.com", "code": code, "sign_in_handle": handle},
    )
    client.post("/register", json=signup_body(email="bob@example.com"))
    code = cognito.code_for("bob@example.com")
    client.post("/register/confirm", json={"username": "bob@example.com", "code": code})

    assert (signed_in.increase(), no_handle.increase()) == (1, 1)
