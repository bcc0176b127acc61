"""The client secret, passwords, SECRET_HASH values, fingerprints and Cognito Sessions never
leave the server; sign-in handles and tokens go to their client and nowhere else."""

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
    # A sign-up that ends signed in: its handle and tokens are the client's, never logged.
    handle = client.post("/register", json={**body, "email": "bob@example.com"}).json
    signed_in = client.post(
        "/register/confirm",
        json={
            "username": "bob@example.com",
            "code": cognito.code_for("bob@example.com"),
            "sign_in_handle": handle["sign_in_handle"],
        },
    ).json
    assert signed_in["signed_in"]
    metrics = client.get("/metrics").get_data(as_text=True)
    given = [handle["sign_in_handle"], *signed_in["tokens"].values()]
    return "\n".join(texts), caplog.text + metrics, [str(value) for value in given]


def test_nothing_secret_is_in_responses_or_logs(flow_output, cognito):
    responses, logs, given = flow_output
    hashed = secret_hash("ada@example.com", cognito.client_id, cognito.client_secret)
    sessions = [call.params["Session"] for call in cognito.calls("InitiateAuth")]
    sessions += [call.params["Session"] for call in cognito.calls("ConfirmSignUp")[-1:]]

    for secret in (PASSWORD, FINGERPRINT, cognito.client_secret, hashed, *sessions):
        assert secret not in responses
        assert secret not in logs
    for secret in given:  # the handle and the tokens: in their own answers only
        if len(secret) > 8:
            assert secret not in logs


def test_the_flow_really_sent_the_secrets_upstream(flow_output, cognito):
    # Guards the test above: the values it looks for were in play.
    assert len(cognito.calls("InitiateAuth")) == 1
    params = cognito.calls("SignUp")[0].params
    assert params["Password"] == PASSWORD
    assert params["UserContextData"]["EncodedData"] == FINGERPRINT
