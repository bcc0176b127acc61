"""The honeypot field: a bot that fills it gets a normal-looking success, and no Cognito call."""

import pytest

from app import create_app
from app.schemas import HONEYPOT_FIELD
from tests.conftest import signup_body

FORM = {"email": "ada@example.com", "password": "Correct-h0rse"}


def test_a_filled_honeypot_answers_like_a_sign_up_without_calling_cognito(client, cognito):
    trapped = client.post("/register", json=signup_body(**{HONEYPOT_FIELD: "http://spam.example"}))
    cognito.reset()
    real = client.post("/register", json=signup_body())

    assert trapped.status_code == real.status_code == 201
    assert set(trapped.json) == set(real.json)  # a sign-in handle too, though a useless one
    assert {**trapped.json, "sign_in_handle": ""} == {**real.json, "sign_in_handle": ""}
    assert len(cognito.calls("SignUp")) == 1  # only the real one


def test_a_filled_honeypot_in_a_plain_form_gets_the_success_page(client, cognito):
    response = client.post(
        "/register", data={**FORM, HONEYPOT_FIELD: "x"}, headers={"Accept": "text/html"}
    )

    assert response.status_code == 201
    assert response.mimetype == "text/html"
    assert "a***@e***" in response.get_data(as_text=True)
    assert cognito.received == []


def test_a_filled_honeypot_on_resend_answers_as_sent(client, cognito):
    response = client.post(
        "/register/resend", json={"username": "ada@example.com", HONEYPOT_FIELD: "1"}
    )

    assert response.status_code == 200
    assert response.json["code_delivery"]["destination"] == "a***@e***"
    assert cognito.received == []


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_honeypot_is_a_person(client, cognito, value):
    response = client.post("/register", data={**FORM, HONEYPOT_FIELD: value})

    assert response.status_code == 201
    assert len(cognito.calls("SignUp")) == 1


@pytest.mark.parametrize("value", [7, True, ["x"], {"a": "b"}])
def test_any_value_a_bot_puts_in_the_honeypot_is_accepted_silently(client, cognito, value):
    response = client.post("/register", json=signup_body(**{HONEYPOT_FIELD: value}))

    assert response.status_code == 201
    assert cognito.received == []


def test_a_filled_honeypot_spends_no_identity_budget(settings, cognito):
    client = create_app({**settings, "SIGNUP_RATE_LIMIT_PER_IDENTITY": "1/hour"}).test_client()
    for _ in range(3):
        client.post("/register", json=signup_body(**{HONEYPOT_FIELD: "x"}))

    assert client.post("/register", json=signup_body()).status_code == 201
    assert len(cognito.calls("SignUp")) == 1
