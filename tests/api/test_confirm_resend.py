"""Finishing the flow: confirmation and code re-sending, with SecretHash and UserContextData."""

from app.cognito import secret_hash
from tests.conftest import signup_body

USERNAME = "ada@example.com"


def register(client):
    response = client.post("/register", json=signup_body())
    assert response.status_code == 201


def test_the_code_cognito_sent_confirms_the_account(client, cognito):
    register(client)

    response = client.post(
        "/register/confirm", json={"username": USERNAME, "code": cognito.code_for(USERNAME)}
    )

    assert response.status_code == 200
    # Without the handle its sign-up gave, confirming signs nobody in (tests/api/test_sign_in.py).
    assert response.json == {"confirmed": True, "signed_in": False}


def test_a_wrong_code_is_reported_on_the_code_field(client, cognito):
    register(client)

    response = client.post("/register/confirm", json={"username": USERNAME, "code": "000000x"})

    assert response.status_code == 422
    assert response.json["code"] == "code_mismatch"
    assert list(response.json["fields"]) == ["code"]


def test_confirm_and_resend_carry_secret_hash_and_user_context(client, cognito):
    register(client)
    headers = {"REMOTE_ADDR": "198.51.100.7"}
    client.post(
        "/register/resend",
        json={"username": USERNAME, "encoded_data": "fp1"},
        environ_base=headers,
    )
    client.post(
        "/register/confirm",
        json={"username": USERNAME, "code": cognito.code_for(USERNAME), "encoded_data": "fp2"},
        environ_base=headers,
    )

    for operation, fingerprint in (("ResendConfirmationCode", "fp1"), ("ConfirmSignUp", "fp2")):
        params = cognito.calls(operation)[0].params
        assert params["SecretHash"] == secret_hash(
            USERNAME, cognito.client_id, cognito.client_secret
        )
        assert params["UserContextData"] == {
            "IpAddress": "198.51.100.7",
            "EncodedData": fingerprint,
        }


def test_resend_sends_a_new_code_and_says_where(client, cognito):
    register(client)
    first = cognito.code_for(USERNAME)

    response = client.post("/register/resend", json={"username": USERNAME})

    assert response.status_code == 200
    assert response.json == {
        "code_delivery": {"destination": "a***@e***", "medium": "EMAIL", "attribute": "email"}
    }
    assert cognito.code_for(USERNAME) != first


def test_the_resent_code_confirms_the_account(client, cognito):
    register(client)
    client.post("/register/resend", json={"username": USERNAME})

    response = client.post(
        "/register/confirm", json={"username": USERNAME, "code": cognito.code_for(USERNAME)}
    )

    assert response.status_code == 200


def test_a_form_confirmation_gets_a_page(client, cognito):
    register(client)

    response = client.post(
        "/register/confirm",
        data={"username": USERNAME, "code": cognito.code_for(USERNAME)},
        headers={"Accept": "text/html"},
    )

    assert response.status_code == 200
    assert response.mimetype == "text/html"
