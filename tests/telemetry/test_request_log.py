"""Logs: one JSON object per line on stdout, a request id on each, and nothing secret in them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from app import create_app
from app.cognito import secret_hash
from tests.conftest import signup_body

PASSWORD = "Sup3r-secret-pw"
FINGERPRINT = "FINGERPRINT-0123456789abcdef"


def json_lines(output: str) -> list[dict]:
    """Every line of ``output`` parsed; fails the test on a line that is not one JSON object."""
    documents = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all(isinstance(document, dict) for document in documents)
    return documents


def access_lines(output: str) -> list[dict]:
    return [line for line in json_lines(output) if line["logger"] == "signup.access"]


def test_each_request_is_one_json_line_with_what_operators_need(client, cognito, capsys):
    capsys.readouterr()

    client.post("/register?utm_source=ada@example.com", json=signup_body())

    (line,) = access_lines(capsys.readouterr().out)
    assert line["method"] == "POST"
    assert line["path"] == "/register"
    assert line["status"] == 201
    assert line["outcome"] == "success"
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert "ada@example.com" not in json.dumps(line)  # the query string is not logged


def test_a_failed_request_logs_its_error_code_as_outcome(client, cognito, capsys):
    capsys.readouterr()
    cognito.fail_next("SignUp", "TooManyRequestsException")

    client.post("/register", json=signup_body())

    (line,) = access_lines(capsys.readouterr().out)
    assert (line["status"], line["outcome"]) == (503, "upstream_throttled")


def test_a_sane_request_id_is_kept_and_echoed(client, cognito, capsys):
    capsys.readouterr()

    response = client.get("/healthz", headers={"X-Request-ID": "lb-4f2a:7"})

    assert response.headers["X-Request-ID"] == "lb-4f2a:7"


@pytest.mark.parametrize(
    "sent",
    ["", "x" * 129, "has space", 'quote"d', "<script>", "naïve", "a\tb"],
)
def test_an_unusable_request_id_is_replaced(client, sent):
    response = client.get("/healthz", headers={"X-Request-ID": sent})

    echoed = response.headers["X-Request-ID"]
    assert echoed != sent
    assert len(echoed) == 32


def test_without_a_request_id_each_request_gets_a_new_one(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]

    assert first != second


def test_lines_logged_during_a_request_carry_its_id(settings, cognito, capsys):
    client = create_app({**settings, "COGNITO_TIMEOUT_SECONDS": "0.2"}).test_client()
    cognito.delay_seconds = 1
    capsys.readouterr()

    client.post("/register", json=signup_body(), headers={"X-Request-ID": "trace-1"})

    lines = json_lines(capsys.readouterr().out)
    warning = next(line for line in lines if line["message"] == "Cognito SignUp timed out")
    assert warning["request_id"] == "trace-1"
    assert warning["level"] == "WARNING"


def test_probe_successes_are_quiet_at_info(client, cognito, capsys):
    capsys.readouterr()

    client.get("/healthz")
    client.get("/readyz")
    client.get("/metrics")

    assert access_lines(capsys.readouterr().out) == []


# What never reaches the logs


@dataclass
class Logged:
    output: str
    code: str


@pytest.fixture
def logged(settings, cognito, capsys) -> Logged:
    """Everything logged at DEBUG while sign-ups succeed, fail, time out and are re-rendered."""
    client = create_app({**settings, "LOG_LEVEL": "DEBUG"}).test_client()
    slow = create_app({**settings, "LOG_LEVEL": "DEBUG", "COGNITO_TIMEOUT_SECONDS": "0.2"})
    body = signup_body(password=PASSWORD, encoded_data=FINGERPRINT)
    capsys.readouterr()
    client.post("/register", json=body)
    for error_code in ("NotAuthorizedException", "InternalErrorException", "SomethingNew"):
        cognito.fail_next("SignUp", error_code, f"echo {PASSWORD} {FINGERPRINT}")
        client.post("/register", json=body)
    client.post("/register", json={**body, "password": PASSWORD + " "})
    client.post("/register", data=body, headers={"Accept": "text/html"})
    code = cognito.code_for("ada@example.com")
    client.post("/register/confirm", json={"username": "ada@example.com", "code": code + "0"})
    client.post("/register/confirm", json={"username": "ada@example.com", "code": code})
    cognito.delay_seconds = 1
    slow.test_client().post("/register", json=body)
    return Logged(capsys.readouterr().out, code)


def test_no_secret_is_ever_logged(logged, cognito):
    hashed = secret_hash("ada@example.com", cognito.client_id, cognito.client_secret)

    for secret in (PASSWORD, FINGERPRINT, cognito.client_secret, hashed, logged.code):
        assert secret not in logged.output


def test_the_logged_flow_really_handled_the_secrets(logged, cognito):
    # Guards the test above: it looked at a run where the secrets were in play, at DEBUG.
    assert cognito.calls("SignUp")[0].params["Password"] == PASSWORD
    assert cognito.calls("SignUp")[0].params["UserContextData"]["EncodedData"] == FINGERPRINT
    assert any(line["level"] == "DEBUG" for line in json_lines(logged.output))
