"""`flask signups reconcile`: records that do not say what Cognito did, repaired from Cognito's
answer (ListUsers on the strict double) or from the repair lines the service logged.

The states repaired are the ones the service really leaves: an attempt opened and sent to Cognito
and then nothing (the process died), an update that failed after Cognito answered, a timeout after
which the user existed all the same.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from app.attribution import Attribution
from app.cognito import PoolUser, UserContext
from app.services.reconcile import Reconciler
from app.services.records import Attempt, RecordKeeper
from app.storage.repository import SignupRecords
from app.telemetry.logs import JsonFormatter
from tests.conftest import signup_body
from tests.support import databases
from tests.support.servers import free_port

PASSWORD = "Correct-h0rse"


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Made-up keys: ListUsers is signed, and the double checks that it is, not the signature.
    Before the app: boto3 looks for credentials when the client is created."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "made-up-secret")


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def records(url: str) -> list[dict[str, object]]:
    return databases.rows(url, "signup_records")


def reconcile(app, *args: str):
    return app.test_cli_runner().invoke(args=["signups", "reconcile", "--older-than", "0", *args])


def crashed_signup(app, username: str) -> int:
    """What a worker killed mid-call leaves: the attempt opened, Cognito called, nothing after."""
    record_id = app.extensions["record_keeper"].open(Attempt(username, None, "json", Attribution()))
    app.extensions["cognito"].sign_up(
        username=username,
        password=PASSWORD,
        attributes={"email": username},
        validation_data={},
        client_metadata={},
        analytics_endpoint_id=None,
        context=UserContext(),
    )
    return record_id


def test_a_user_created_behind_a_timeout_is_recorded_as_created(
    aws_credentials, make_app, cognito, database_url
):
    app = make_app(COGNITO_TIMEOUT_SECONDS="0.5")
    cognito.delay_seconds = 1.5  # the double creates the user, then is too slow to say so
    assert app.test_client().post("/register", json=signup_body()).status_code == 504
    cognito.delay_seconds = 0

    result = reconcile(app)

    [record] = records(database_url)
    assert (record["outcome"], record["error_code"]) == ("created", None)
    assert record["user_sub"] == cognito.sub_for("ada@example.com")
    assert "Repaired 1 of 1 records checked." in result.output


def test_an_attempt_left_pending_by_a_crash_is_recorded_as_created(
    aws_credentials, app, cognito, database_url
):
    crashed_signup(app, "ada@example.com")

    reconcile(app)

    [record] = records(database_url)
    assert (record["outcome"], record["user_sub"]) == (
        "created",
        cognito.sub_for("ada@example.com"),
    )


def test_a_confirmed_user_is_recorded_as_confirmed(aws_credentials, app, cognito, database_url):
    crashed_signup(app, "ada@example.com")
    code = cognito.code_for("ada@example.com")
    app.test_client().post("/register/confirm", json={"username": "ada@example.com", "code": code})

    reconcile(app)

    [record] = records(database_url)
    assert record["outcome"] == "confirmed"
    assert record["confirmed_at"] is not None


def test_a_pending_attempt_that_created_no_user_is_marked_failed(
    aws_credentials, app, cognito, database_url
):
    app.extensions["record_keeper"].open(Attempt("ada@example.com", None, "json", Attribution()))

    reconcile(app)

    [record] = records(database_url)
    assert (record["outcome"], record["error_code"]) == ("failed", "not_created")


def test_a_user_already_recorded_is_never_given_to_a_second_record(
    aws_credentials, app, client, cognito, database_url
):
    client.post("/register", json=signup_body())
    app.extensions["record_keeper"].open(Attempt("ada@example.com", None, "json", Attribution()))

    reconcile(app)

    created, pending = records(database_url)
    assert created["outcome"] == "created"
    assert (pending["outcome"], pending["error_code"]) == ("failed", "not_created")


def test_recent_attempts_are_left_alone_while_they_may_be_in_flight(
    aws_credentials, app, cognito, database_url
):
    crashed_signup(app, "ada@example.com")

    result = app.test_cli_runner().invoke(args=["signups", "reconcile"])  # default: 2 minutes

    assert records(database_url)[0]["outcome"] == "pending"
    assert "Repaired 0 of 0" in result.output


def test_a_second_run_repairs_nothing(aws_credentials, app, cognito, database_url):
    crashed_signup(app, "ada@example.com")
    reconcile(app)

    again = reconcile(app)

    assert "Repaired 0 of 0" in again.output


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(
    aws_credentials, app, cognito, database_url
):
    record_id = crashed_signup(app, "ada@example.com")

    result = reconcile(app, "--dry-run")

    assert f"record {record_id}: pending -> outcome=created" in result.output
    assert "Would repair 1 of 1" in result.output
    assert records(database_url)[0]["outcome"] == "pending"


def test_with_nothing_to_check_cognito_is_not_asked(aws_credentials, app, client, cognito):
    client.post("/register", json=signup_body(password="weak"))  # refused by Cognito: failed

    reconcile(app)

    assert cognito.calls("ListUsers") == []


def test_a_confirmation_that_was_not_recorded_is_caught_up(
    aws_credentials, app, client, cognito, database_url
):
    # While the records cannot be read, a confirmation still goes through, unrecorded.
    client.post("/register", json=signup_body())
    app.extensions["cognito"].confirm_sign_up(
        username="ada@example.com", code=cognito.code_for("ada@example.com"), context=UserContext()
    )

    reconcile(app)

    [record] = records(database_url)
    assert (record["outcome"], record["user_sub"]) == (
        "confirmed",
        cognito.sub_for("ada@example.com"),
    )


def test_listing_users_is_a_signed_admin_call(aws_credentials, app, cognito):
    crashed_signup(app, "ada@example.com")

    reconcile(app)

    [listing] = cognito.calls("ListUsers")
    assert listing.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert listing.params["UserPoolId"] == cognito.user_pool_id
    assert cognito.violations == []


def test_without_aws_credentials_it_says_what_is_needed(
    no_aws_credentials, app, cognito, database_url
):
    crashed_signup(app, "ada@example.com")

    result = reconcile(app)

    assert result.exit_code != 0
    assert "needs AWS credentials allowing cognito-idp:ListUsers" in result.output
    assert records(database_url)[0]["outcome"] == "pending"


def test_users_are_matched_by_email_in_a_pool_that_signs_in_by_email(app, database_url):
    # There Cognito keeps a generated username and the address the sign-up sent as an attribute.
    keeper: RecordKeeper = app.extensions["record_keeper"]
    keeper.open(Attempt("Ada@Example.com", None, "json", Attribution()))
    created = datetime.now(UTC) + timedelta(seconds=1)
    user = PoolUser("7f0c-generated", "sub-1", "ada@example.com", None, created, created, False)

    Reconciler(app.extensions["signup_records"]).from_directory(
        [user], keeper.identity_hash, opened_before=datetime.now(UTC) + timedelta(minutes=1)
    )

    assert records(database_url)[0]["user_sub"] == "sub-1"


# From the log: no credentials needed


def failed_update_log(app, caplog, username: str) -> tuple[int, str, list[str]]:
    """Cognito created the user, then the record could not be updated: the ERROR line the
    service writes, as JSON on stdout."""
    record_id = crashed_signup(app, username)
    gone = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone")
    unreachable = RecordKeeper(SignupRecords(gone), identity_key=b"k" * 32)
    with caplog.at_level(logging.ERROR):
        unreachable.created(record_id, "sub-from-cognito", confirmed=False)
    gone.dispose()
    return record_id, "sub-from-cognito", [JsonFormatter().format(r) for r in caplog.records]


def test_the_logged_repair_lines_are_applied(app, cognito, database_url, caplog, tmp_path):
    record_id, sub, lines = failed_update_log(app, caplog, "ada@example.com")
    log = tmp_path / "service.log"
    log.write_text("\n".join(["unrelated line", *lines, '{"message": "json, unrelated"}']))

    result = reconcile(app, "--from-log", str(log))

    [record] = records(database_url)
    assert (record["id"], record["outcome"], record["user_sub"]) == (record_id, "created", sub)
    assert "Repaired 1 of 1" in result.output


def test_a_logged_repair_never_overwrites_a_record_settled_since(
    app, cognito, database_url, caplog, tmp_path
):
    record_id, _, lines = failed_update_log(app, caplog, "ada@example.com")
    app.extensions["signup_records"].repair(record_id, ("pending",), outcome="failed")
    log = tmp_path / "service.log"
    log.write_text("\n".join(lines))

    result = reconcile(app, "--from-log", str(log))

    assert records(database_url)[0]["outcome"] == "failed"
    assert "Repaired 0 of 1" in result.output
