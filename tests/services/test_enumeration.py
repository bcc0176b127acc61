"""SIGNUP_HIDE_EXISTING_USERS (on by default): no answer tells whether an account exists.

Answers are compared as a client sees them: status, headers (the per-request counters and the
request id aside) and the body byte for byte.
"""

import re
import time

import pytest

from app import create_app
from tests.conftest import signup_body

USERNAME = "ada@example.com"
COUNTERS = {"X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-ID"}


# Each answer's sign-in handle is new, in the body (apps) or a cookie (browsers), whether or not
# an account was created: only its place and form must match.
HANDLE = re.compile(r'(sign_in_handle": ?"|__Host-signup-handle=)[A-Za-z0-9_-]{48}')
# A cookie's Expires is the clock's second: two answers a moment apart may differ by one.
EXPIRES = re.compile(r"Expires=[^;]+")


def same_form(value: str) -> str:
    return EXPIRES.sub("Expires=<when>", HANDLE.sub(r"\1<handle>", value))


def shape(response):
    headers = sorted((k, same_form(v)) for k, v in response.headers.items() if k not in COUNTERS)
    names = sorted(response.headers.keys())
    body = HANDLE.sub(r"\1<handle>", response.get_data(as_text=True))
    return response.status_code, tuple(headers), tuple(names), body


def confirm_user(client, cognito, username=USERNAME):
    client.post(
        "/register/confirm", json={"username": username, "code": cognito.code_for(username)}
    )


@pytest.mark.parametrize(
    "body",
    [
        signup_body(),
        signup_body(username="ada", email=None, phone_number="+14155550100"),
        signup_body(username="ada", email=None),
    ],
    ids=["email", "phone", "username-only"],
)
def test_signing_up_an_existing_username_answers_exactly_like_a_fresh_sign_up(
    client, cognito, body
):
    fresh = client.post("/register", json=body)
    existing = client.post("/register", json=body)

    assert fresh.status_code == 201
    assert shape(existing) == shape(fresh)
    assert len(cognito.calls("SignUp")) == 2  # both asked Cognito: the same work, the same wait


def test_signing_up_a_confirmed_account_answers_like_a_fresh_sign_up(client, cognito):
    fresh = client.post("/register", json=signup_body())
    confirm_user(client, cognito)

    assert shape(client.post("/register", json=signup_body())) == shape(fresh)


def test_the_page_for_a_plain_form_is_the_same_too(client, cognito):
    form = {"email": "ada@example.com", "password": "Correct-h0rse"}
    headers = {"Accept": "text/html"}

    fresh = client.post("/register", data=form, headers=headers)
    existing = client.post("/register", data=form, headers=headers)

    assert fresh.mimetype == "text/html"
    assert shape(existing) == shape(fresh)


def test_both_answers_wait_for_cognito_alike(client, cognito):
    cognito.delay_seconds = 0.3
    durations = []
    for _ in range(2):
        started = time.monotonic()
        client.post("/register", json=signup_body())
        durations.append(time.monotonic() - started)

    fresh, existing = durations
    assert existing >= 0.3
    assert abs(existing - fresh) < 0.15


def test_resend_answers_alike_for_unknown_waiting_and_confirmed_accounts(client, cognito):
    client.post("/register", json=signup_body(email="user-waiting@example.com"))
    client.post("/register", json=signup_body(email="user-confirmed@example.com"))
    confirm_user(client, cognito, "user-confirmed@example.com")

    answers = [
        client.post("/register/resend", json={"username": f"{who}@example.com"})
        for who in ("user-unknown", "user-waiting", "user-confirmed")
    ]

    assert len({shape(answer) for answer in answers}) == 1
    assert answers[0].status_code == 200
    assert answers[0].json["code_delivery"]["destination"] == "u***@e***"
    assert [call.params["Username"] for call in cognito.calls("ResendConfirmationCode")] == [
        "user-unknown@example.com",
        "user-waiting@example.com",
        "user-confirmed@example.com",
    ]


def test_resend_under_a_plain_username_never_tells_where_the_code_went(client, cognito):
    client.post("/register", json=signup_body(username="ada"))

    known = client.post("/register/resend", json={"username": "ada"})
    unknown = client.post("/register/resend", json={"username": "bob"})

    assert known.json == unknown.json == {"code_delivery": None}


def test_confirm_answers_alike_for_unknown_accounts_wrong_codes_and_confirmed_accounts(
    client, cognito
):
    client.post("/register", json=signup_body(email="waiting@example.com"))
    client.post("/register", json=signup_body(email="confirmed@example.com"))
    confirm_user(client, cognito, "confirmed@example.com")

    answers = [
        client.post("/register/confirm", json={"username": f"{who}@example.com", "code": "12345"})
        for who in ("nobody", "waiting", "confirmed")
    ]

    assert len({shape(answer) for answer in answers}) == 1
    assert answers[0].status_code == 422
    assert list(answers[0].json["fields"]) == ["code"]


def test_an_expired_code_answers_like_a_wrong_one(client, cognito):
    cognito.fail_next("ConfirmSignUp", "ExpiredCodeException")
    expired = client.post("/register/confirm", json={"username": USERNAME, "code": "12345"})
    wrong = client.post("/register/confirm", json={"username": USERNAME, "code": "12345"})

    assert shape(expired) == shape(wrong)


@pytest.fixture
def revealing(settings):
    return create_app({**settings, "SIGNUP_HIDE_EXISTING_USERS": "false"}).test_client()


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/register", signup_body(), 409, "username_exists"),
        ("/register/resend", {"username": "nobody"}, 404, "user_not_found"),
        ("/register/confirm", {"username": "nobody", "code": "1"}, 404, "user_not_found"),
    ],
)
def test_with_hiding_off_existing_and_unknown_accounts_are_told_apart(
    revealing, cognito, path, body, status, code
):
    revealing.post("/register", json=signup_body())

    response = revealing.post(path, json=body)

    assert (response.status_code, response.json["code"]) == (status, code)
