"""A signup record per attempt that reached Cognito, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest
from sqlalchemy import text

from app.storage.db import db
from tests.conftest import signup_body
from tests.support import databases


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


def records(url: str) -> list[dict[str, object]]:
    return databases.rows(url, "signup_records")


def test_a_signup_is_recorded_as_created_with_its_cognito_sub(client, cognito, database_url):
    client.post("/register", json=signup_body(), environ_base={"REMOTE_ADDR": "203.0.113.9"})

    [record] = records(database_url)
    assert record["outcome"] == "created"
    assert record["user_sub"] == cognito.sub_for("ada@example.com")
    assert record["client_kind"] == "json"
    assert record["error_code"] is None
    assert record["created_at"] is not None


def test_the_identity_is_kept_as_a_keyed_hash_not_the_email(client, database_url):
    client.post("/register", json=signup_body())

    [record] = records(database_url)
    assert re.fullmatch(r"[0-9a-f]{64}", record["identity_hash"])
    # Not the address, nor its domain; the local part alone proves nothing: "ada" is hex, so a
    # UUID or hash column may hold it by chance.
    assert "example.com" not in str(record)


def test_a_form_post_is_recorded_as_a_form(client, database_url):
    client.post("/register", data=signup_body(), headers={"Accept": "text/html"})

    assert records(database_url)[0]["client_kind"] == "form"


@pytest.mark.parametrize(
    ("cognito_error", "error_code"),
    [
        ("UsernameExistsException", "username_exists"),
        ("InvalidPasswordException", "invalid_fields"),
        ("TooManyRequestsException", "upstream_throttled"),
        ("InternalErrorException", "upstream_error"),
    ],
)
def test_a_refused_signup_is_recorded_as_failed_with_its_error_code(
    client, cognito, database_url, cognito_error, error_code
):
    cognito.fail_next("SignUp", cognito_error)

    client.post("/register", json=signup_body())

    [record] = records(database_url)
    assert (record["outcome"], record["error_code"]) == ("failed", error_code)


def test_an_existing_user_answered_as_a_fresh_signup_is_recorded_as_what_it_was(
    client, cognito, database_url
):
    # SIGNUP_HIDE_EXISTING_USERS (on by default) changes the answer, never the record.
    client.post("/register", json=signup_body())

    response = client.post("/register", json=signup_body())

    assert response.status_code == 201
    assert [(r["outcome"], r["error_code"]) for r in records(database_url)] == [
        ("created", None),
        ("failed", "username_exists"),
    ]


def test_a_request_that_fails_validation_leaves_no_record(client, cognito, database_url):
    client.post("/register", json=signup_body(password="short pw"))

    assert records(database_url) == []
    assert cognito.calls("SignUp") == []


def test_a_confirmation_marks_the_record_confirmed(client, cognito, database_url):
    client.post("/register", json=signup_body())

    response = client.post(
        "/register/confirm",
        json={"username": "ada@example.com", "code": cognito.code_for("ada@example.com")},
    )

    assert response.status_code == 200
    [record] = records(database_url)
    assert record["outcome"] == "confirmed"
    assert record["confirmed_at"] is not None


def test_a_wrong_code_leaves_the_record_unconfirmed(client, database_url):
    client.post("/register", json=signup_body())

    client.post("/register/confirm", json={"username": "ada@example.com", "code": "000000"})

    [record] = records(database_url)
    assert (record["outcome"], record["confirmed_at"]) == ("created", None)


def test_a_confirmation_marks_the_signup_that_created_the_user(client, cognito, database_url):
    client.post("/register", json=signup_body())
    cognito.fail_next("SignUp", "UsernameExistsException")
    client.post("/register", json=signup_body())

    client.post(
        "/register/confirm",
        json={"username": "ada@example.com", "code": cognito.code_for("ada@example.com")},
    )

    assert [r["outcome"] for r in records(database_url)] == ["confirmed", "failed"]


@pytest.mark.parametrize(
    ("policy", "remote_addr", "kept"),
    [
        (None, "203.0.113.9", "203.0.113.0/24"),
        ("truncated", "2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("full", "203.0.113.9", "203.0.113.9"),
        ("none", "203.0.113.9", None),
    ],
)
def test_what_is_kept_of_the_ip_follows_the_setting(
    make_app, database_url, policy, remote_addr, kept
):
    client = make_app(**({"SIGNUP_RECORD_IP": policy} if policy else {})).test_client()

    client.post("/register", json=signup_body(), environ_base={"REMOTE_ADDR": remote_addr})

    assert records(database_url)[0]["ip_address"] == kept


@pytest.fixture
def table_gone_during_cognito_call(app, cognito, database_url):
    """Renames signup_records while Cognito is answering, so the update after it fails."""
    cognito.delay_seconds = 0.5

    def rename_when_cognito_is_called() -> None:
        deadline = time.monotonic() + 5
        while not cognito.calls("SignUp") and time.monotonic() < deadline:
            time.sleep(0.01)
        with databases.engine_for(database_url) as engine, engine.begin() as connection:
            connection.execute(text("ALTER TABLE signup_records RENAME TO signup_records_away"))

    renamer = threading.Thread(target=rename_when_cognito_is_called)
    renamer.start()
    yield
    renamer.join()
    with app.app_context():
        db.engine.dispose()  # no pooled connection may hold on to the renamed table
    with databases.engine_for(database_url) as engine, engine.begin() as connection:
        connection.execute(text("ALTER TABLE signup_records_away RENAME TO signup_records"))


def test_when_the_update_after_cognito_fails_the_client_still_gets_cognitos_answer(
    client, table_gone_during_cognito_call
):
    response = client.post("/register", json=signup_body())

    assert response.status_code == 201


def test_when_the_update_after_cognito_fails_the_log_says_how_to_repair_the_record(
    client, cognito, database_url, table_gone_during_cognito_call, caplog
):
    caplog.set_level(logging.ERROR)

    client.post("/register", json=signup_body())

    sub = cognito.sub_for("ada@example.com")
    assert re.search(rf"record 1 stays 'pending'.*outcome=created user_sub={sub}", caplog.text)
