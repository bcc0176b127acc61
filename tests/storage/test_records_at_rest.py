"""Nothing secret at rest: after every kind of request, dump the database and search it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from app.cognito import secret_hash
from tests.conftest import signup_body
from tests.support import databases

PASSWORD = "Sup3r-secret-pw"
FINGERPRINT = "FINGERPRINT-0123456789abcdef"
EMAIL = "ada.lovelace@example.com"
IP = "203.0.113.9"


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@dataclass
class Stored:
    text: str  # the database's
    sign_in: dict[str, str]  # the secrets of the sign-in after confirming, by name


@pytest.fixture
def stored(client, cognito, database_url) -> Stored:
    """Sign-ups (JSON, form, idempotent, refused), resend, and a confirmation that signs in;
    then the database's text."""
    environ = {"REMOTE_ADDR": IP}
    body = signup_body(email=EMAIL, password=PASSWORD, encoded_data=FINGERPRINT, variant="A")
    handle = client.post(
        "/register", json=body, headers={"Idempotency-Key": "at-rest-1"}, environ_base=environ
    ).json["sign_in_handle"]
    client.post(
        "/register", json=body, headers={"Idempotency-Key": "at-rest-1"}, environ_base=environ
    )
    cognito.fail_next("SignUp", "InternalErrorException", f"echo {PASSWORD}")
    client.post(
        "/register", json=body, headers={"Idempotency-Key": "at-rest-2"}, environ_base=environ
    )
    client.post(
        "/register",
        data={**body, "email": "form." + EMAIL},
        headers={"Accept": "text/html", "Idempotency-Key": "at-rest-3"},
        environ_base=environ,
    )
    client.post(
        "/register/resend",
        json={"username": EMAIL, "encoded_data": FINGERPRINT},
        headers={"Idempotency-Key": "at-rest-4"},
    )
    confirmed = client.post(
        "/register/confirm",
        json={
            "username": EMAIL,
            "code": cognito.code_for(EMAIL),
            "encoded_data": FINGERPRINT,
            "sign_in_handle": handle,
        },
    )
    text = databases.dump(database_url)
    if database_url.startswith("sqlite:///"):
        # The raw file too: deleted and overwritten values can linger in free pages.
        text += Path(database_url.removeprefix("sqlite:///")).read_bytes().decode("latin-1")
    tokens = confirmed.json["tokens"]
    sign_in = {
        "sign-in handle": handle,
        "SignUp's Session": cognito.calls("ConfirmSignUp")[0].params["Session"],
        "ConfirmSignUp's Session": cognito.calls("InitiateAuth")[0].params["Session"],
        **{name: tokens[name] for name in ("access_token", "id_token", "refresh_token")},
    }
    return Stored(text, sign_in)


def secrets(cognito) -> dict[str, str]:
    return {
        "password": PASSWORD,
        "client secret": cognito.client_secret,
        "SECRET_HASH": secret_hash(EMAIL, cognito.client_id, cognito.client_secret),
        "form SECRET_HASH": secret_hash("form." + EMAIL, cognito.client_id, cognito.client_secret),
        "encoded_data": FINGERPRINT,
    }


def test_no_password_secret_hash_client_secret_or_fingerprint_is_stored(stored, cognito):
    found = [name for name, value in secrets(cognito).items() if value in stored.text]

    assert found == []


def test_no_sign_in_handle_session_or_token_is_stored(stored):
    found = [name for name, value in stored.sign_in.items() if value in stored.text]

    assert found == []


def test_neither_the_email_nor_the_full_ip_is_stored(stored):
    assert EMAIL not in stored.text
    assert IP not in stored.text


def test_the_dump_holds_the_flow_it_should(stored, cognito, database_url):
    # Guards the tests above: the flow ran, was recorded, and sent the secrets upstream.
    outcomes = [row["outcome"] for row in databases.rows(database_url, "signup_records")]
    assert outcomes == ["confirmed", "failed", "created"]
    # The form post's page answer echoes the email, so it is not kept: two JSON answers are.
    assert len(databases.rows(database_url, "idempotency_keys")) == 2
    assert "203.0.113.0/24" in stored.text
    [signed_in] = [
        row for row in databases.rows(database_url, "signup_records") if row["signed_in_at"]
    ]
    assert signed_in["outcome"] == "confirmed"
    sent = cognito.calls("SignUp")[0].params
    assert (sent["Password"], sent["UserContextData"]["EncodedData"]) == (PASSWORD, FINGERPRINT)
