"""Every Cognito failure gets a deliberate answer in the one error shape, quickly."""

import logging
import socket
import time

import pytest

from app import create_app
from tests.conftest import signup_body

CONFIRM = {"username": "ada@example.com", "code": "123456"}
RESEND = {"username": "ada@example.com"}


@pytest.fixture
def settings(settings):
    """These tests are about translating Cognito's errors, so accounts are not hidden here."""
    return {**settings, "SIGNUP_HIDE_EXISTING_USERS": "false"}


REQUESTS = {
    "SignUp": ("/register", signup_body()),
    "ConfirmSignUp": ("/register/confirm", CONFIRM),
    "ResendConfirmationCode": ("/register/resend", RESEND),
}


# The answer to each Cognito error: (operation, error, status, code, field at fault, Retry-After).
# fmt: off
ERROR_ANSWERS = [
    ("SignUp", "UsernameExists", 409, "username_exists", "username", None),
    ("SignUp", "InvalidParameter", 422, "invalid_fields", None, None),
    ("SignUp", "UserLambdaValidation", 422, "signup_rejected", None, None),
    ("SignUp", "TooManyRequests", 503, "upstream_throttled", None, "1"),
    ("SignUp", "LimitExceeded", 503, "code_delivery_limited", None, "60"),
    ("SignUp", "CodeDeliveryFailure", 502, "code_delivery_failed", None, None),
    ("SignUp", "InternalError", 502, "upstream_error", None, None),
    ("SignUp", "Forbidden", 403, "forbidden", None, None),
    ("SignUp", "SomethingNew", 502, "upstream_error", None, None),
    ("ConfirmSignUp", "CodeMismatch", 422, "code_mismatch", "code", None),
    ("ConfirmSignUp", "ExpiredCode", 422, "code_expired", "code", None),
    ("ConfirmSignUp", "TooManyFailedAttempts", 429, "too_many_attempts", None, "60"),
    ("ConfirmSignUp", "AliasExists", 409, "username_exists", "email", None),
    ("ConfirmSignUp", "UserNotFound", 404, "user_not_found", "username", None),
    ("ConfirmSignUp", "LimitExceeded", 503, "upstream_throttled", None, "60"),
    ("ResendConfirmationCode", "LimitExceeded", 503, "upstream_throttled", None, "60"),
    ("ResendConfirmationCode", "CodeDeliveryFailure", 502, "code_delivery_failed", None, None),
]
# fmt: on


@pytest.mark.parametrize(
    ("operation", "error", "status", "code", "field", "retry_after"), ERROR_ANSWERS
)
def test_cognito_errors_get_deliberate_answers(
    client, cognito, operation, error, status, code, field, retry_after
):
    path, body = REQUESTS[operation]
    cognito.fail_next(operation, f"{error}Exception", "upstream words that must not leak")

    response = client.post(path, json=body)

    assert response.status_code == status
    assert response.json["code"] == code
    assert set(response.json) == {"status", "code", "message", "fields"}
    assert "upstream words" not in response.get_data(as_text=True)
    if field:
        assert field in response.json["fields"]
    assert response.headers.get("Retry-After") == retry_after


@pytest.mark.parametrize(
    ("message", "hints"),
    [
        (
            "Password did not conform with policy: Password must have uppercase characters",
            ["Add an uppercase letter."],
        ),
        (
            "Password did not conform with policy: Password not long enough",
            ["Use a longer password."],
        ),
        (
            "Password did not conform with policy: Password must have symbol characters",
            ["Add a symbol, such as ! or %."],
        ),
        ("Something new", ["This password does not meet the password policy."]),
    ],
)
def test_invalid_password_becomes_a_readable_password_error(client, cognito, message, hints):
    cognito.fail_next("SignUp", "InvalidPasswordException", message)

    response = client.post("/register", json=signup_body())

    assert response.status_code == 422
    assert response.json["fields"] == {"password": hints}


def test_the_password_policy_of_the_pool_is_reported_on_the_password(client, cognito):
    response = client.post("/register", json=signup_body(password="alllowercase1"))

    assert response.status_code == 422
    assert response.json["fields"] == {"password": ["Add an uppercase letter."]}


def test_an_invalid_parameter_naming_an_attribute_is_reported_on_that_field(client, cognito):
    cognito.fail_next(
        "SignUp", "InvalidParameterException", "Invalid phone number format: phone_number"
    )

    response = client.post("/register", json=signup_body(phone_number="+14155550100"))

    assert response.status_code == 422
    assert list(response.json["fields"]) == ["phone_number"]


@pytest.mark.parametrize("error_code", ["NotAuthorizedException", "ResourceNotFoundException"])
def test_our_misconfiguration_is_a_502_and_a_loud_log_line(client, cognito, caplog, error_code):
    cognito.fail_next("SignUp", error_code, "Unable to verify secret hash for client x")

    with caplog.at_level(logging.ERROR, logger="app.cognito"):
        response = client.post("/register", json=signup_body())

    assert response.status_code == 502
    assert response.json["code"] == "upstream_error"
    assert any(
        error_code in r.getMessage() and "COGNITO_" in r.getMessage() for r in caplog.records
    )


def test_a_wrong_client_secret_is_caught_by_the_strict_double(settings, cognito):
    app = create_app({**settings, "COGNITO_CLIENT_SECRET": "not-the-secret"})

    response = app.test_client().post("/register", json=signup_body())

    assert response.status_code == 502
    assert cognito.calls("SignUp")  # it did reach Cognito, which refused the SecretHash


def test_confirming_a_confirmed_account_is_a_409(client, cognito):
    client.post("/register", json=signup_body())
    code = cognito.code_for("ada@example.com")
    client.post("/register/confirm", json={"username": "ada@example.com", "code": code})

    again = client.post("/register/confirm", json={"username": "ada@example.com", "code": code})
    resend = client.post("/register/resend", json={"username": "ada@example.com"})

    assert (again.status_code, again.json["code"]) == (409, "already_confirmed")
    assert (resend.status_code, resend.json["code"]) == (409, "already_confirmed")


def test_a_cognito_5xx_page_is_a_502(client, cognito):
    cognito.respond_raw_next("SignUp", 500, b"<html>Internal Server Error</html>")

    response = client.post("/register", json=signup_body())

    assert response.status_code == 502
    assert response.json["code"] == "upstream_error"


def test_a_stalled_cognito_is_a_504_within_the_timeout(settings, cognito):
    app = create_app({**settings, "COGNITO_TIMEOUT_SECONDS": "0.5"})
    cognito.delay_seconds = 3

    started = time.monotonic()
    response = app.test_client().post("/register", json=signup_body())
    elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.json["code"] == "upstream_timeout"
    assert elapsed < 1.5


def test_an_unreachable_cognito_is_a_503(settings, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", f"http://127.0.0.1:{port}")
    app = create_app(settings)

    started = time.monotonic()
    response = app.test_client().post("/register", json=signup_body())

    assert response.status_code == 503
    assert response.json["code"] == "upstream_unavailable"
    assert response.headers["Retry-After"] == "1"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("error_code", ["TooManyRequestsException", "LimitExceededException"])
def test_throttled_signups_are_not_retried_into_username_exists(client, cognito, error_code):
    cognito.fail_next("SignUp", error_code)

    client.post("/register", json=signup_body())

    assert len(cognito.calls("SignUp")) == 1


def test_a_misconfigured_sign_in_is_logged_loudly_but_the_confirmation_stands(
    client, cognito, caplog
):
    """NotAuthorized on InitiateAuth about the secret hash is ours to fix; about the Session it
    is only a Session that expired (tests/api/test_sign_in.py). Either way: confirmed."""
    handle = client.post("/register", json=signup_body()).json["sign_in_handle"]
    code = cognito.code_for("ada@example.com")
    cognito.fail_next("InitiateAuth", "NotAuthorizedException", "Unable to verify secret hash")

    with caplog.at_level(logging.ERROR, logger="app.cognito"):
        response = client.post(
            "/register/confirm",
            json={"username": "ada@example.com", "code": code, "sign_in_handle": handle},
        )

    assert (response.status_code, response.json["signed_in"]) == (200, False)
    assert any(
        "InitiateAuth" in r.getMessage() and "COGNITO_" in r.getMessage() for r in caplog.records
    )
