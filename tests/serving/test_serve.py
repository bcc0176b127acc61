"""`make run`'s server for real: gunicorn with the production config and the embedded Cognito."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import forget_keys, signup_body
from tests.support.servers import (
    MIGRATE,
    ROOT,
    Gunicorn,
    clean_environment,
    free_port,
    post,
    refused_start,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory, redis_url) -> Iterator[Gunicorn]:
    """gunicorn with two workers, as `make run` starts it, with no COGNITO_* settings.

    Two workers need shared rate-limit counters, so this runs on the machine's Redis.
    """
    prefix = f"test-{uuid.uuid4().hex}"
    env = clean_environment(
        WEB_CONCURRENCY="2", RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX=prefix
    )
    with Gunicorn(env, tmp_path_factory.mktemp("serve")) as server:
        yield server
    forget_keys(redis_url, prefix)


def logged_code(server: Gunicorn, username: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pattern = rf"Confirmation code for {re.escape(username)}: (\d+)"
        codes = re.findall(pattern, server.output())
        if codes:
            return codes[-1]
        time.sleep(0.1)
    raise AssertionError(f"no code logged for {username}")


def logged_lines(server: Gunicorn) -> list[dict]:
    """gunicorn's stdout, each line decoded: a line that is not JSON fails the test."""
    return [json.loads(line) for line in server.stdout.read_text().splitlines()]


def test_the_log_says_how_to_try_it(served):
    assert "curl" in served.output()


def test_the_log_says_embedded_users_vanish_on_restart_and_records_stay(served):
    output = served.output()

    assert "vanish when the server restarts" in output
    assert "records stay in its database" in output


def test_the_embedded_cognito_gets_generous_rate_limits_and_says_so(served):
    statuses = {
        post(f"{served.base}/register", signup_body(email=f"many-{n}@example.com"))[0]
        for n in range(30)
    }

    assert statuses == {201}
    assert "Generous rate limits while the embedded Cognito serves" in served.output()
    assert "production settings never get them" in served.output()


def test_limits_an_operator_set_are_kept_with_the_embedded_cognito(tmp_path):
    env = clean_environment(SIGNUP_RATE_LIMIT_PER_IP="2/minute")
    with Gunicorn(env, tmp_path) as server:
        statuses = [
            post(f"{server.base}/register", signup_body(email=f"kept-{n}@example.com"))[0]
            for n in range(3)
        ]

    assert statuses == [201, 201, 429]
    assert "SIGNUP_RATE_LIMIT_PER_IP=" not in server.output()


def test_a_configured_pool_keeps_the_default_rate_limits(tmp_path, cognito):
    with Gunicorn(clean_environment(**cognito.settings()), tmp_path) as server:
        statuses = [
            post(f"{server.base}/register", signup_body(email=f"pool-{n}@example.com"))[0]
            for n in range(11)
        ]

    assert statuses == [201] * 10 + [429]
    assert "Generous rate limits" not in server.output()


def test_a_make_run_start_warns_of_no_refused_sign_ups(tmp_path):
    """Migrations (an app with no user pool), then gunicorn serving the embedded Cognito."""
    env = clean_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'signups.db'}")
    migrated = subprocess.run(  # noqa: S603 - this interpreter, our own arguments
        MIGRATE, cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    with Gunicorn(env, tmp_path) as server:
        served_output = server.output()

    output = migrated.stdout + migrated.stderr + served_output
    assert "No COGNITO_* settings" not in output
    assert "sign-ups are refused" not in output


def test_every_line_on_stdout_is_json_the_confirmation_code_included(served):
    username = "json-lines@example.com"
    post(f"{served.base}/register", {"email": username, "password": "Correct-h0rse"})
    code = logged_code(served, username)

    lines = logged_lines(served)

    delivered = [line for line in lines if "confirmation_code" in line]
    delivered = [line for line in delivered if line["username"] == username]
    assert [line["confirmation_code"] for line in delivered] == [code]
    assert delivered[0]["message"] == f"Confirmation code for {username}: {code}"


def test_sign_up_confirm_and_resend_across_workers(served):
    base = served.base
    username = "grace@example.com"

    status, body = post(f"{base}/register", {"email": username, "password": "Correct-h0rse"})
    assert (status, body["user_confirmed"]) == (201, False)
    handle = body["sign_in_handle"]

    status, body = post(f"{base}/register/resend", {"username": username})
    assert status == 200
    assert body["code_delivery"]["medium"] == "EMAIL"

    # Every request may land on either worker: both must know the same user pool.
    status, _ = post(f"{base}/register/confirm", {"username": username, "code": "000000"})
    assert status == 422
    # ...and the Session the sign-up left (in Redis) signs the person in from either.
    code = logged_code(served, username)
    status, body = post(
        f"{base}/register/confirm", {"username": username, "code": code, "sign_in_handle": handle}
    )
    assert (status, body["confirmed"], body["signed_in"]) == (200, True, True)
    assert body["tokens"]["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("password", "hint"),
    [
        ("Sh0rt", "Use a longer password."),
        ("weakpass1", "Add an uppercase letter."),
        ("WEAKPASS1", "Add a lowercase letter."),
        ("Weak-pass", "Add a number."),
    ],
)
def test_the_embedded_pool_refuses_a_weak_password_with_the_rule_s_hint(served, password, hint):
    body = {"email": "weak@example.com", "password": password}
    status, answer = post(f"{served.base}/register", body)

    assert (status, answer["code"], answer["fields"]) == (
        422,
        "invalid_fields",
        {"password": [hint]},
    )


def test_a_breached_password_is_refused_and_the_log_says_how_passwords_are_checked(served):
    status, body = post(
        f"{served.base}/register", {"email": "lin@example.com", "password": "Password1!"}
    )

    assert (status, body["code"], list(body["fields"])) == (422, "breached_password", ["password"])
    assert "Passwords are checked (enforce) against http://127.0.0.1:" in served.output()
    assert "without it, sign-ups go on" in served.output()


def test_offline_the_breached_password_check_fails_open_and_counts_it(tmp_path):
    """`make run` with no way to the range API: sign-ups go on, each counted as unavailable."""
    unreachable = f"http://127.0.0.1:{free_port()}/range/"
    env = clean_environment(SIGNUP_BREACHED_PASSWORD_URL=unreachable)
    with Gunicorn(env, tmp_path) as server:
        status, _ = post(
            f"{server.base}/register", {"email": "lin@example.com", "password": "Password1!"}
        )
        with urllib.request.urlopen(f"{server.base}/metrics", timeout=5) as response:
            metrics = response.read().decode()

    assert status == 201
    assert 'signup_breached_password_checks_total{outcome="unavailable"} 1.0' in metrics


def test_the_server_refuses_to_start_without_a_pool_when_embedding_is_off():
    finished = refused_start(clean_environment(COGNITO_EMBEDDED="never"))

    assert finished.returncode != 0
    assert "COGNITO_USER_POOL_ID" in finished.stdout + finished.stderr
