"""Captcha verification server-side, against a local stub of the siteverify protocol over HTTP."""

import logging
import time

import pytest

from app import create_app
from tests.conftest import signup_body
from tests.support.servers import free_port
from tests.support.siteverify_stub import GOOD_TOKEN, STUB_SECRET, SiteverifyStub


@pytest.fixture(scope="session")
def siteverify_server():
    with SiteverifyStub() as stub:
        yield stub


@pytest.fixture
def siteverify(siteverify_server):
    siteverify_server.reset()
    return siteverify_server


@pytest.fixture
def captcha_settings(settings, siteverify):
    return {
        **settings,
        "SIGNUP_CAPTCHA_PROVIDER": "turnstile",
        "SIGNUP_CAPTCHA_SECRET": STUB_SECRET,
        "SIGNUP_CAPTCHA_VERIFY_URL": siteverify.url,
        "SIGNUP_CAPTCHA_TIMEOUT_SECONDS": "0.5",
    }


@pytest.fixture
def client(captcha_settings):
    return create_app(captcha_settings).test_client()


def test_a_genuine_token_is_verified_with_the_client_ip_before_cognito(client, cognito, siteverify):
    response = client.post(
        "/register",
        json=signup_body(captcha_token=GOOD_TOKEN),
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )

    assert response.status_code == 201
    assert siteverify.received == [
        {
            "content_type": "application/x-www-form-urlencoded",
            "method": "POST",
            "secret": STUB_SECRET,
            "response": GOOD_TOKEN,
            "remoteip": "198.51.100.4",
        }
    ]
    assert len(cognito.calls("SignUp")) == 1


@pytest.mark.parametrize(
    "field", ["cf-turnstile-response", "h-captcha-response", "g-recaptcha-response"]
)
def test_a_plain_form_sends_the_token_under_the_widgets_own_field(client, cognito, field):
    response = client.post(
        "/register",
        data={"email": "ada@example.com", "password": "Correct-h0rse", field: GOOD_TOKEN},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (signup_body(captcha_token="forged-token"), "captcha_token"),
        (signup_body(**{"cf-turnstile-response": "forged-token"}), "cf-turnstile-response"),
    ],
)
def test_a_rejected_token_is_a_422_naming_the_field_it_came_in(client, cognito, body, field):
    response = client.post("/register", json=body)

    assert response.status_code == 422
    assert response.json["code"] == "captcha_failed"
    assert list(response.json["fields"]) == [field]
    assert cognito.received == []


@pytest.mark.parametrize("body", [signup_body(), signup_body(captcha_token="")])
def test_a_missing_token_is_a_422_without_asking_the_provider(client, cognito, siteverify, body):
    response = client.post("/register", json=body)

    assert response.status_code == 422
    assert response.json["fields"] == {"captcha_token": ["Complete the captcha."]}
    assert siteverify.received == []
    assert cognito.received == []


def test_a_token_is_good_once(client, cognito):
    client.post("/register", json=signup_body(captcha_token=GOOD_TOKEN))

    again = client.post(
        "/register", json=signup_body(email="b@example.com", captcha_token=GOOD_TOKEN)
    )

    assert again.status_code == 422


def test_a_rejected_captcha_spends_no_identity_budget(captcha_settings, cognito, siteverify):
    client = create_app(
        {**captcha_settings, "SIGNUP_RATE_LIMIT_PER_IDENTITY": "1/hour"}
    ).test_client()
    for _ in range(3):
        client.post("/register", json=signup_body(captcha_token="forged-token"))

    assert client.post("/register", json=signup_body(captcha_token=GOOD_TOKEN)).status_code == 201


OUTAGES = ["http-500", "not-json", "stall", "unreachable"]


def outage(siteverify, captcha_settings, kind):
    if kind == "unreachable":
        url = f"http://127.0.0.1:{free_port()}/siteverify"
        return {**captcha_settings, "SIGNUP_CAPTCHA_VERIFY_URL": url}
    siteverify.outage = kind
    return captcha_settings


@pytest.mark.parametrize("kind", OUTAGES)
def test_an_outage_fails_closed_by_default_with_a_quick_503(
    captcha_settings, cognito, siteverify, kind
):
    client = create_app(outage(siteverify, captcha_settings, kind)).test_client()

    started = time.monotonic()
    response = client.post("/register", json=signup_body(captcha_token=GOOD_TOKEN))

    assert response.status_code == 503
    assert response.json["code"] == "captcha_unavailable"
    assert response.headers["Retry-After"] == "5"
    assert time.monotonic() - started < 1.5
    assert cognito.received == []


@pytest.mark.parametrize("kind", OUTAGES)
def test_an_outage_lets_sign_ups_through_when_set_to_fail_open(
    captcha_settings, cognito, siteverify, kind, caplog
):
    env = {**outage(siteverify, captcha_settings, kind), "SIGNUP_CAPTCHA_ON_OUTAGE": "open"}
    client = create_app(env).test_client()

    response = client.post("/register", json=signup_body(captcha_token=GOOD_TOKEN))

    assert response.status_code == 201
    assert len(cognito.calls("SignUp")) == 1
    assert "fail-open" in caplog.text


def test_fail_open_still_refuses_a_token_the_provider_rejected(captcha_settings, cognito):
    client = create_app({**captcha_settings, "SIGNUP_CAPTCHA_ON_OUTAGE": "open"}).test_client()

    response = client.post("/register", json=signup_body(captcha_token="forged-token"))

    assert response.status_code == 422


def test_a_wrong_secret_is_our_fault_an_outage_and_a_loud_log(captcha_settings, cognito, caplog):
    client = create_app(
        {**captcha_settings, "SIGNUP_CAPTCHA_SECRET": "not-the-secret"}
    ).test_client()

    with caplog.at_level(logging.ERROR, logger="app.captcha"):
        response = client.post("/register", json=signup_body(captcha_token=GOOD_TOKEN))

    assert response.status_code == 503
    assert "invalid-input-secret" in caplog.text
    assert "SIGNUP_CAPTCHA_SECRET" in caplog.text


def test_the_captcha_secret_never_shows_in_answers_or_logs(
    captcha_settings, cognito, caplog, siteverify
):
    caplog.set_level(logging.DEBUG)
    texts = []
    for kind in ("none", "http-500", "not-json"):
        siteverify.outage = kind
        client = create_app(captcha_settings).test_client()
        for body in (signup_body(captcha_token=GOOD_TOKEN), signup_body(captcha_token="forged")):
            response = client.post("/register", json=body)
            texts.append(response.get_data(as_text=True) + str(response.headers))

    assert siteverify.received  # the secret was in play
    assert STUB_SECRET not in "\n".join(texts)
    assert STUB_SECRET not in caplog.text


def test_without_a_provider_the_widget_fields_are_accepted_and_ignored(settings, cognito):
    client = create_app(settings).test_client()

    response = client.post("/register", json=signup_body(**{"cf-turnstile-response": "anything"}))

    assert response.status_code == 201
