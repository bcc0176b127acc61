"""Signed in after confirming: tokens for the client that started the sign-up, and only for it.

Against the strict double, which gives a Session on SignUp and ConfirmSignUp and real JWTs on
InitiateAuth (USER_AUTH), as Cognito does.
"""

from __future__ import annotations

import html
import json
import time
import urllib.request
from http.cookies import SimpleCookie

import pytest
import redis
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.test import TestResponse

from app.api.sign_in import HANDLE_COOKIE
from app.cognito import secret_hash
from tests.conftest import GENEROUS_LIMITS, signup_body

USERNAME = "ada@example.com"
LANDING = "https://landing.example.com"
SIGN_IN_URL = "https://app.example.com/sign-in"
SIGNED_IN_URL = "https://app.example.com/welcome"
BROWSER = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "Origin": LANDING}
COOKIE_SETTINGS = {
    "SIGNUP_TOKEN_COOKIE_DOMAIN": "example.com",
    "SIGNUP_ACCESS_TOKEN_COOKIE": "app_access",
    "SIGNUP_ID_TOKEN_COOKIE": "app_id",
    "SIGNUP_REFRESH_TOKEN_COOKIE": "app_refresh",
    "SIGNUP_REFRESH_TOKEN_COOKIE_PATH": "/auth/refresh",
}
TOKEN_COOKIES = ("app_access", "app_id", "app_refresh")


@pytest.fixture
def make_client(make_app, cognito):
    def build(**overrides: str) -> FlaskClient:
        settings = {
            "SIGNUP_CORS_ORIGINS": LANDING,
            "SIGNUP_SIGN_IN_URL": SIGN_IN_URL,
            **COOKIE_SETTINGS,
            **GENEROUS_LIMITS,
            **overrides,
        }
        return make_app(**settings).test_client()

    return build


@pytest.fixture
def client(make_client) -> FlaskClient:
    return make_client()


def register(client: FlaskClient, **overrides: object) -> TestResponse:
    response = client.post("/register", json=signup_body(**overrides))
    assert response.status_code == 201, response.json
    return response


def confirm(client: FlaskClient, cognito, username: str = USERNAME, **extra: object):
    body = {"username": username, "code": cognito.code_for(username), **extra}
    return client.post("/register/confirm", json=body)


def post_form(client: FlaskClient, path: str, **fields: object) -> TestResponse:
    return client.post(path, data=fields, headers=BROWSER)


def confirm_form(client: FlaskClient, cognito, username: str = USERNAME, **fields: object):
    """A browser's plain confirm form, with the code Cognito sent ``username``."""
    code = cognito.code_for(username)
    return post_form(client, "/register/confirm", username=username, code=code, **fields)


def set_cookies(response: TestResponse) -> dict[str, SimpleCookie]:
    """Each Set-Cookie of the answer by cookie name, attributes and all."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        found.update({name: cookie for name in cookie})
    return found


def verified_claims(cognito, token: str) -> dict:
    """The token's claims, after checking its signature against the pool's published keys."""
    url = f"{cognito.endpoint_url}/{cognito.user_pool_id}/.well-known/jwks.json"
    with urllib.request.urlopen(url, timeout=5) as answer:
        keys = KeySet.import_key_set(json.load(answer))
    return jwt.decode(token, keys).claims


# API clients: the handle in the answer, the tokens in the body


def test_an_app_that_brings_its_handle_is_signed_in_with_real_tokens(client, cognito):
    handle = register(client).json["sign_in_handle"]

    response = confirm(client, cognito, sign_in_handle=handle)

    assert response.status_code == 200
    assert (response.json["confirmed"], response.json["signed_in"]) == (True, True)
    tokens = response.json["tokens"]
    assert set(tokens) == {"access_token", "id_token", "refresh_token", "expires_in", "token_type"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("Bearer", 3600)
    identity = verified_claims(cognito, tokens["id_token"])
    assert (identity["sub"], identity["token_use"]) == (cognito.sub_for(USERNAME), "id")
    assert identity["aud"] == cognito.client_id
    assert verified_claims(cognito, tokens["access_token"])["token_use"] == "access"
    assert set_cookies(response) == {}  # an app's tokens are in the body only


def test_the_session_travels_sign_up_to_confirm_to_initiate_auth(client, cognito):
    handle = register(client).json["sign_in_handle"]
    confirm(client, cognito, sign_in_handle=handle)

    signup_session = cognito.calls("SignUp")[0]
    confirmation = cognito.calls("ConfirmSignUp")[0].params
    [sign_in] = cognito.calls("InitiateAuth")
    assert confirmation["Session"]
    assert sign_in.params["AuthFlow"] == "USER_AUTH"
    assert sign_in.params["Session"] != confirmation["Session"]  # ConfirmSignUp's new one
    assert sign_in.params["AuthParameters"] == {
        "USERNAME": USERNAME,
        "SECRET_HASH": secret_hash(USERNAME, cognito.client_id, cognito.client_secret),
    }
    assert "Session" not in signup_session.params


def test_a_confirmation_without_the_handle_confirms_but_signs_nobody_in(client, cognito):
    register(client)

    response = confirm(client, cognito)

    assert response.status_code == 200
    assert response.json == {"confirmed": True, "signed_in": False, "sign_in_url": SIGN_IN_URL}
    assert cognito.users()[USERNAME].confirmed
    assert cognito.calls("InitiateAuth") == []
    assert "Session" not in cognito.calls("ConfirmSignUp")[0].params


def test_another_sign_up_s_handle_signs_nobody_in(client, cognito):
    register(client)
    other = register(client, email="bob@example.com").json["sign_in_handle"]

    response = confirm(client, cognito, sign_in_handle=other)

    assert response.json["signed_in"] is False
    assert cognito.calls("InitiateAuth") == []
    # Bob's own sign-in is untouched by the attempt.
    assert confirm(client, cognito, "bob@example.com", sign_in_handle=other).json["signed_in"]


def test_a_handle_signs_in_once(client, cognito):
    handle = register(client).json["sign_in_handle"]
    assert confirm(client, cognito, sign_in_handle=handle).json["signed_in"] is True

    again = confirm(client, cognito, sign_in_handle=handle)

    # Already confirmed (answered as a wrong code, so as not to tell), and no second tokens.
    assert again.status_code == 422
    assert len(cognito.calls("InitiateAuth")) == 1


@pytest.mark.parametrize(
    ("handle", "code"),
    [("not-a-handle", "invalid_fields"), ("A" * 48, "invalid_sign_in_handle")],
)
def test_a_bad_handle_is_a_422_that_never_reaches_cognito(client, cognito, handle, code):
    register(client)
    calls_before = len(cognito.received)

    response = confirm(client, cognito, sign_in_handle=handle)

    assert response.status_code == 422
    assert (response.json["code"], list(response.json["fields"])) == (code, ["sign_in_handle"])
    assert len(cognito.received) == calls_before
    assert not cognito.users()[USERNAME].confirmed


# Never a dead end


def test_a_kept_session_that_expired_still_confirms(make_client, cognito):
    client = make_client(SIGNUP_SIGN_IN_WINDOW="1s")
    handle = register(client).json["sign_in_handle"]
    time.sleep(2.1)

    response = confirm(client, cognito, sign_in_handle=handle)

    assert response.json == {"confirmed": True, "signed_in": False, "sign_in_url": SIGN_IN_URL}
    assert cognito.users()[USERNAME].confirmed


def test_a_session_cognito_no_longer_accepts_still_confirms(client, cognito):
    cognito.session_validity_seconds = 0.5
    handle = register(client).json["sign_in_handle"]
    time.sleep(0.8)

    response = confirm(client, cognito, sign_in_handle=handle)

    assert (response.status_code, response.json["signed_in"]) == (200, False)
    assert cognito.users()[USERNAME].confirmed
    with_session, without = cognito.calls("ConfirmSignUp")
    assert "Session" in with_session.params
    assert "Session" not in without.params


@pytest.mark.parametrize(
    ("error_code", "message"),
    [
        ("NotAuthorizedException", "Invalid session for the user."),
        ("UserNotConfirmedException", "User is not confirmed."),
        ("TooManyRequestsException", "Rate exceeded"),
        ("InternalErrorException", "Internal error"),
    ],
)
def test_a_refused_sign_in_still_confirms(client, cognito, error_code, message):
    handle = register(client).json["sign_in_handle"]
    cognito.fail_next("InitiateAuth", error_code, message)

    response = confirm(client, cognito, sign_in_handle=handle)

    assert response.status_code == 200
    assert response.json == {"confirmed": True, "signed_in": False, "sign_in_url": SIGN_IN_URL}
    assert "tokens" not in response.json


def test_a_sign_in_that_needs_another_step_sends_the_person_to_sign_in(client, cognito):
    handle = register(client).json["sign_in_handle"]
    challenge = {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "x" * 40}
    cognito.respond_raw_next(
        "InitiateAuth", 200, json.dumps(challenge).encode(), "application/x-amz-json-1.1"
    )

    response = confirm(client, cognito, sign_in_handle=handle)

    assert response.json["signed_in"] is False
    assert response.json["sign_in_url"] == SIGN_IN_URL


def test_a_pool_without_user_auth_confirms_with_the_same_answers(client, cognito):
    cognito.user_auth = False
    registered = register(client).json

    response = confirm(client, cognito, sign_in_handle=registered["sign_in_handle"])

    assert set(registered) == {"user_confirmed", "code_delivery", "sign_in_handle"}
    assert response.json == {"confirmed": True, "signed_in": False, "sign_in_url": SIGN_IN_URL}
    assert cognito.calls("InitiateAuth") == []


def test_an_existing_account_s_answer_has_a_handle_like_any_other(client, cognito):
    fresh = register(client).json

    again = register(client).json  # the same email: hidden as a fresh sign-up

    assert set(again) == set(fresh)
    assert again["sign_in_handle"] != fresh["sign_in_handle"]


def test_with_sign_in_off_nothing_changes_for_clients(make_client, cognito):
    client = make_client(SIGNUP_SIGN_IN="false")

    registered = register(client).json
    response = confirm(client, cognito)

    assert "sign_in_handle" not in registered
    assert response.json == {"confirmed": True, "signed_in": False, "sign_in_url": SIGN_IN_URL}
    assert "Session" not in cognito.calls("ConfirmSignUp")[0].params


# Browsers: the handle and the tokens only as HttpOnly cookies


def test_a_browser_form_gets_the_handle_as_a_host_only_httponly_cookie(client, cognito):
    response = post_form(client, "/register", **signup_body())

    assert response.status_code == 201
    handle = set_cookies(response)[HANDLE_COOKIE][HANDLE_COOKIE]
    assert handle["httponly"]
    assert handle["secure"]
    assert (handle["samesite"], handle["path"], handle["domain"]) == ("Strict", "/", "")
    assert int(handle["max-age"]) == 180
    assert handle.value not in response.get_data(as_text=True)


def test_a_browser_that_confirms_is_signed_in_with_cookies_only(client, cognito):
    post_form(client, "/register", **signup_body())

    response = confirm_form(client, cognito)

    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "You're signed in" in page
    cookies = set_cookies(response)
    for name in TOKEN_COOKIES:
        cookie = cookies[name][name]
        assert cookie["httponly"]
        assert cookie["secure"]
        assert cookie["samesite"] == "Lax"
        assert cookie["domain"] in ("example.com", ".example.com")
        assert cookie.value not in page
    assert cookies["app_refresh"]["app_refresh"]["path"] == "/auth/refresh"
    assert cookies["app_access"]["app_access"]["path"] == "/"
    assert int(cookies["app_access"]["app_access"]["max-age"]) == 3600
    identity = verified_claims(cognito, cookies["app_id"]["app_id"].value)
    assert identity["sub"] == cognito.sub_for(USERNAME)
    assert int(cookies[HANDLE_COOKIE][HANDLE_COOKIE]["max-age"]) == 0  # the handle is spent


@pytest.mark.parametrize(
    ("overrides", "form", "target"),
    [
        ({"SIGNUP_SIGNED_IN_URL": SIGNED_IN_URL}, {}, SIGNED_IN_URL),
        (
            {"SIGNUP_SIGNED_IN_URL": SIGNED_IN_URL},
            {"redirect_to": f"{LANDING}/go"},
            f"{LANDING}/go",
        ),
    ],
)
def test_a_signed_in_browser_is_sent_on(make_client, cognito, overrides, form, target):
    client = make_client(**overrides)
    post_form(client, "/register", **signup_body())

    response = confirm_form(client, cognito, **form)

    assert (response.status_code, response.headers["Location"]) == (303, target)
    assert set(TOKEN_COOKIES) <= set(set_cookies(response))


def test_signup_js_gets_cookies_and_a_body_without_secrets(client, cognito):
    origin = {"Origin": LANDING}
    registered = client.post("/register", json=signup_body(), headers=origin)
    assert "sign_in_handle" not in registered.json
    assert HANDLE_COOKIE in set_cookies(registered)

    response = client.post(
        "/register/confirm",
        json={"username": USERNAME, "code": cognito.code_for(USERNAME)},
        headers=origin,
    )

    assert response.json == {"confirmed": True, "signed_in": True}
    assert set(TOKEN_COOKIES) <= set(set_cookies(response))
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


def test_a_code_read_in_another_browser_signs_that_browser_in_to_nothing(make_client, cognito):
    """The person signs up on a laptop and types the code on a phone: the phone confirms the
    account, but only the laptop could have been signed in."""
    laptop, phone = make_client(), make_client()
    post_form(laptop, "/register", **signup_body())

    response = confirm_form(phone, cognito)

    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "You're signed up" in page
    assert f'href="{SIGN_IN_URL}"' in page
    assert set_cookies(response) == {}
    assert cognito.users()[USERNAME].confirmed
    assert cognito.calls("InitiateAuth") == []


def test_an_attacker_s_code_never_signs_a_victim_s_browser_in(make_client, cognito):
    """Login CSRF: the attacker signs up, then has the victim's browser post the attacker's
    username and code (from a landing page form, say). The victim must not end up signed in
    to the attacker's account, whatever handle the victim's browser holds."""
    attacker, victim = make_client(), make_client()
    post_form(attacker, "/register", **signup_body(email="mallory@example.com"))
    post_form(victim, "/register", **signup_body())  # the victim's own pending sign-up

    response = confirm_form(victim, cognito, "mallory@example.com")

    assert response.status_code == 200
    assert not set(TOKEN_COOKIES) & set(set_cookies(response))
    assert cognito.calls("InitiateAuth") == []
    # The victim's own sign-in still works: the attempt spent nothing of it.
    own = confirm_form(victim, cognito)
    assert set(TOKEN_COOKIES) <= set(set_cookies(own))


def test_a_bad_handle_cookie_is_refused_and_removed(client, cognito):
    post_form(client, "/register", **signup_body())
    client.set_cookie(HANDLE_COOKIE, "B" * 48, path="/", secure=True)
    calls_before = len(cognito.received)

    response = confirm_form(client, cognito)

    assert response.status_code == 422
    assert len(cognito.received) == calls_before
    assert int(set_cookies(response)[HANDLE_COOKIE][HANDLE_COOKIE]["max-age"]) == 0
    # Sent again, the form confirms: never a dead end.
    again = confirm_form(client, cognito)
    assert again.status_code == 200


# Passwordless


def test_passwordless_sign_up_sends_no_password_and_signs_in_on_confirm(make_client, cognito):
    client = make_client(SIGNUP_PASSWORDLESS="true")

    handle = register(client, password=None).json["sign_in_handle"]
    response = confirm(client, cognito, sign_in_handle=handle)

    assert "Password" not in cognito.calls("SignUp")[0].params
    assert response.json["signed_in"] is True
    assert verified_claims(cognito, response.json["tokens"]["id_token"])["sub"]


def test_passwordless_needs_somewhere_to_send_codes(make_client, cognito):
    client = make_client(SIGNUP_PASSWORDLESS="true")

    response = client.post("/register", json={"username": "ada"})

    assert response.status_code == 422
    assert list(response.json["fields"]) == ["email"]
    assert cognito.calls("SignUp") == []


def test_without_passwordless_a_missing_password_stays_a_422(client, cognito):
    response = client.post("/register", json=signup_body(password=None))

    assert response.status_code == 422
    assert list(response.json["fields"]) == ["password"]
    assert cognito.calls("SignUp") == []


def test_a_pool_that_wants_a_password_is_the_operator_s_to_fix(make_client, cognito, caplog):
    cognito.passwordless = False
    client = make_client(SIGNUP_PASSWORDLESS="true")

    response = client.post("/register", json=signup_body(password=None))

    assert response.status_code == 502
    assert "SIGNUP_PASSWORDLESS" in caplog.text


# Shared, sealed, counted


@pytest.mark.redis
def test_a_confirmation_on_another_host_finds_the_session_sealed_in_redis(
    make_client, cognito, redis_url, redis_prefix
):
    shared = {"RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_KEY_PREFIX": redis_prefix}
    one, other = make_client(**shared), make_client(**shared)
    handle = register(one).json["sign_in_handle"]
    connection = redis.Redis.from_url(redis_url)
    kept = {
        key: connection.get(key) for key in connection.scan_iter(match=f"{redis_prefix}:sign-in:*")
    }
    connection.close()

    response = confirm(other, cognito, sign_in_handle=handle)

    assert response.json["signed_in"] is True
    [(key, sealed)] = kept.items()
    session = cognito.calls("ConfirmSignUp")[0].params["Session"].encode()
    assert session not in sealed
    assert handle.encode() not in key + sealed
    assert USERNAME.encode() not in key + sealed
