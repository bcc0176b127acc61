"""The client secret, passwords, SECRET_HASH values and fingerprints never leave the server."""

import logging

import pytest

from app.cognito import secret_hash
from tests.conftest import signup_body

PASSWORD = "Sup3r-secret-pw"
FINGERPRINT = "FINGERPRINT-0123456789abcdef"


@pytest.fixture
def flow_output(client, cognito, caplog):
    """Everything a sign-up flow, including its failures, writes to responses and logs."""
    caplog.set_level(logging.DEBUG)
    body = signup_body(password=PASSWORD, encoded_data=FINGERPRINT)
    responses = [client.post("/register", json=body)]
    for error_code in (
        "NotAuthorizedException",
        "InternalErrorException",
        "UsernameExistsException",
    ):
        cognito.fail_next("SignUp", error_code, f"echo {PASSWORD} {FINGERPRINT}")
        responses.append(client.post("/register", json=body))
    responses.append(client.post("/register", json={**body, "password": PASSWORD + " "}))
    responses.append(client.post("/register/resend", json={"username": "ada@example.com"}))
    responses.append(
        client.post(
            "/register/confirm",
            json={"username": "ada@example.com", "code": "999999", "encoded_data": FINGERPRINT},
        )
    )
    texts = [r.get_data(as_text=True) + str(r.headers) for r in responses]
    return "\n".join(texts), caplog.text


def test_nothing_secret_is_in_responses_or_logs(flow_output, cognito):
    responses, logs = flow_output
    hashed = secret_hash("ada@example.com", cognito.client_id, cognito.client_secret)

    for secret in (PASSWORD, FINGERPRINT, cognito.client_secret, hashed):
        assert secret not in responses
        assert secret not in logs


def test_the_flow_really_sent_the_secrets_upstream(flow_output, cognito):
    # Guards the test above: the values it looks for were in play.
    params = cognito.calls("SignUp")[0].params
    assert params["Password"] == PASSWORD
    assert params["UserContextData"]["EncodedData"] == FINGERPRINT
