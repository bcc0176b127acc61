"""Idempotency-Key on /register and /register/resend, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.conftest import signup_body
from tests.support import databases


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def test_a_retry_gets_the_first_answer_without_a_second_cognito_call(client, cognito):
    first = client.post("/register", json=signup_body(), headers=keyed("k-1"))
    retry = client.post("/register", json=signup_body(), headers=keyed("k-1"))

    assert (first.status_code, retry.status_code) == (201, 201)
    # The sign-in handle is a secret and never kept at rest: a replay confirms, signing nobody in.
    assert retry.json == {k: v for k, v in first.json.items() if k != "sign_in_handle"}
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(cognito.calls("SignUp")) == 1


def test_a_retry_makes_no_second_record(client, database_url):
    for _ in range(3):
        client.post("/register", json=signup_body(), headers=keyed("k-1"))

    assert len(databases.rows(database_url, "signup_records")) == 1


def test_key_order_and_spacing_of_the_json_body_do_not_matter(client, cognito):
    compact = json.dumps({"email": "ada@example.com", "password": "Correct-h0rse"})
    spaced = json.dumps({"password": "Correct-h0rse", "email": "ada@example.com"}, indent=2)
    for body in (compact, spaced):
        client.post("/register", data=body, content_type="application/json", headers=keyed("k-1"))

    assert len(cognito.calls("SignUp")) == 1


def test_the_same_key_with_another_body_is_refused(client, cognito):
    client.post("/register", json=signup_body(), headers=keyed("k-1"))

    other = client.post(
        "/register", json=signup_body(email="grace@example.com"), headers=keyed("k-1")
    )

    assert other.status_code == 422
    assert other.json["code"] == "idempotency_key_reused"
    assert list(other.json["fields"]) == ["Idempotency-Key"]
    assert len(cognito.calls("SignUp")) == 1


def test_the_same_key_on_another_endpoint_is_refused(client, cognito):
    client.post("/register", json=signup_body(), headers=keyed("k-1"))

    other = client.post(
        "/register/resend", json={"username": "ada@example.com"}, headers=keyed("k-1")
    )

    assert other.json["code"] == "idempotency_key_reused"
    assert cognito.calls("ResendConfirmationCode") == []


def test_without_a_key_every_request_reaches_cognito(client, cognito):
    client.post("/register", json=signup_body())
    client.post("/register", json=signup_body())

    assert len(cognito.calls("SignUp")) == 2


def test_a_refusal_from_cognito_is_replayed_too(client, cognito):
    cognito.fail_next("SignUp", "InvalidPasswordException", "Password not long enough")
    first = client.post("/register", json=signup_body(), headers=keyed("k-1"))
    retry = client.post("/register", json=signup_body(), headers=keyed("k-1"))

    assert (first.status_code, retry.status_code) == (422, 422)
    assert retry.get_data() == first.get_data()
    assert len(cognito.calls("SignUp")) == 1


@pytest.mark.parametrize(
    ("cognito_error", "status"),
    [("TooManyRequestsException", 503), ("InternalErrorException", 502)],
)
def test_a_transient_failure_is_not_kept_so_a_retry_runs_again(
    client, cognito, cognito_error, status
):
    cognito.fail_next("SignUp", cognito_error)
    first = client.post("/register", json=signup_body(), headers=keyed("k-1"))
    retry = client.post("/register", json=signup_body(), headers=keyed("k-1"))

    assert (first.status_code, retry.status_code) == (status, 201)
    assert len(cognito.calls("SignUp")) == 2


def test_a_key_expires_after_its_ttl(make_app, cognito):
    client = make_app(SIGNUP_IDEMPOTENCY_TTL="1s").test_client()
    client.post("/register", json=signup_body(), headers=keyed("k-1"))
    time.sleep(1.1)

    late = client.post("/register", json=signup_body(), headers=keyed("k-1"))

    assert "Idempotent-Replayed" not in late.headers
    assert len(cognito.calls("SignUp")) == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "cl\u00e9"])
def test_a_malformed_key_is_refused_before_cognito(client, cognito, key):
    response = client.post("/register", json=signup_body(), headers={"Idempotency-Key": key})

    assert response.status_code == 422
    assert list(response.json["fields"]) == ["Idempotency-Key"]
    assert cognito.calls("SignUp") == []


def test_a_request_that_fails_validation_does_not_use_up_its_key(client, cognito):
    client.post("/register", json=signup_body(password="short pw"), headers=keyed("k-1"))
    fixed = client.post("/register", json=signup_body(), headers=keyed("k-1"))

    assert fixed.status_code == 201
    assert len(cognito.calls("SignUp")) == 1


def test_a_resend_retry_sends_one_code(client, cognito):
    client.post("/register", json=signup_body())
    first = client.post(
        "/register/resend", json={"username": "ada@example.com"}, headers=keyed("r-1")
    )
    retry = client.post(
        "/register/resend", json={"username": "ada@example.com"}, headers=keyed("r-1")
    )

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.get_data() == first.get_data()
    assert len(cognito.calls("ResendConfirmationCode")) == 1


def test_a_page_answer_is_not_kept_since_it_shows_what_was_typed(client, cognito):
    page = {"Accept": "text/html", **keyed("f-1")}
    first = client.post("/register", data=signup_body(), headers=page)
    retry = client.post("/register", data=signup_body(), headers=page)

    assert retry.status_code == first.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert len(cognito.calls("SignUp")) == 2  # the retry ran again, and hiding made it look alike


def post_together(app, count: int, key: str) -> list:
    """``count`` identical requests with one key, released at the same instant from threads."""
    barrier = threading.Barrier(count)
    responses: list = [None] * count

    def send(index: int) -> None:
        client = app.test_client()
        barrier.wait()
        responses[index] = client.post("/register", json=signup_body(), headers=keyed(key))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


def test_concurrent_duplicates_make_one_cognito_call(app, cognito):
    cognito.delay_seconds = 0.5  # keeps the first request in flight while the others arrive

    responses = post_together(app, 5, "c-1")

    assert len(cognito.calls("SignUp")) == 1
    assert [r.status_code for r in responses] == [201] * 5
    replays = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replays) == 4
    assert len({r.get_data() for r in replays}) == 1


def test_a_duplicate_that_cannot_wait_long_enough_gets_a_409(make_app, cognito):
    app = make_app(SIGNUP_IDEMPOTENCY_WAIT_SECONDS="0.2")
    cognito.delay_seconds = 1.0
    first = threading.Thread(
        target=lambda: app.test_client().post("/register", json=signup_body(), headers=keyed("c-1"))
    )
    first.start()
    while not cognito.calls("SignUp"):
        time.sleep(0.01)

    duplicate = app.test_client().post("/register", json=signup_body(), headers=keyed("c-1"))
    first.join()
    later = app.test_client().post("/register", json=signup_body(), headers=keyed("c-1"))

    assert duplicate.status_code == 409
    assert duplicate.json["code"] == "idempotency_in_progress"
    assert duplicate.headers["Retry-After"] == "1"
    assert (later.status_code, later.headers["Idempotent-Replayed"]) == (201, "true")
    assert len(cognito.calls("SignUp")) == 1
