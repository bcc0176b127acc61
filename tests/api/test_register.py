"""POST /register against the strict Cognito double: what reaches Cognito, what clients see."""

import re

import pytest

from app import create_app
from app.cognito import secret_hash
from tests.conftest import signup_body


def test_a_json_signup_creates_an_unconfirmed_user_and_says_where_the_code_went(client, cognito):
    response = client.post("/register", json=signup_body())

    assert response.status_code == 201
    answer = dict(response.json)
    assert re.fullmatch(r"[A-Za-z0-9_-]{48}", answer.pop("sign_in_handle"))
    assert answer == {
        "user_confirmed": False,
        "code_delivery": {"destination": "a***@e***", "medium": "EMAIL", "attribute": "email"},
    }
    assert len(cognito.calls("SignUp")) == 1


def test_signup_sends_secret_hash_for_the_exact_username_sent(client, cognito):
    client.post("/register", json=signup_body(username="Ada.Lovelace"))

    params = cognito.calls("SignUp")[0].params
    assert params["Username"] == "Ada.Lovelace"
    assert params["ClientId"] == cognito.client_id
    assert params["SecretHash"] == secret_hash(
        "Ada.Lovelace", cognito.client_id, cognito.client_secret
    )


def test_username_defaults_to_email(client, cognito):
    client.post("/register", json=signup_body(email="grace@example.com"))

    assert cognito.calls("SignUp")[0].params["Username"] == "grace@example.com"


def test_every_applicable_signup_field_reaches_cognito(client, cognito):
    client.post(
        "/register",
        json=signup_body(
            phone_number="+14155550100",
            given_name="Ada",
            family_name="Lovelace",
            locale="en-GB",
            validation_data={"invite": "abc123"},
            analytics_endpoint_id="endpoint-1",
            encoded_data="eyJmaW5nZXJwcmludCI6IjEyMyJ9",
        ),
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )

    params = cognito.calls("SignUp")[0].params
    assert params["Password"] == "Correct-h0rse"
    assert {a["Name"]: a["Value"] for a in params["UserAttributes"]} == {
        "email": "ada@example.com",
        "phone_number": "+14155550100",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "locale": "en-GB",
    }
    assert params["ValidationData"] == [{"Name": "invite", "Value": "abc123"}]
    assert params["AnalyticsMetadata"] == {"AnalyticsEndpointId": "endpoint-1"}
    assert params["UserContextData"] == {
        "IpAddress": "203.0.113.9",
        "EncodedData": "eyJmaW5nZXJwcmludCI6IjEyMyJ9",
    }
    assert "ClientMetadata" not in params


def test_allowlisted_custom_attributes_and_client_metadata_reach_cognito(settings, cognito):
    app = create_app(
        {
            **settings,
            "SIGNUP_ALLOWED_CUSTOM_ATTRIBUTES": "custom:plan",
            "SIGNUP_CLIENT_METADATA_KEYS": "campaign",
        }
    )
    response = app.test_client().post(
        "/register",
        json=signup_body(attributes={"custom:plan": "pro"}, client_metadata={"campaign": "x"}),
    )

    assert response.status_code == 201
    params = cognito.calls("SignUp")[0].params
    assert {"Name": "custom:plan", "Value": "pro"} in params["UserAttributes"]
    assert params["ClientMetadata"] == {"campaign": "x"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (signup_body(attributes={"custom:plan": "pro"}), "attributes.custom:plan"),
        (signup_body(client_metadata={"campaign": "x"}), "client_metadata.campaign"),
    ],
)
def test_attributes_and_metadata_outside_the_allowlist_are_refused(client, cognito, body, field):
    response = client.post("/register", json=body)

    assert response.status_code == 422
    assert field in response.json["fields"]
    assert cognito.received == []


def test_without_a_fingerprint_only_the_ip_is_sent(client, cognito):
    client.post("/register", json=signup_body(), environ_base={"REMOTE_ADDR": "198.51.100.4"})

    assert cognito.calls("SignUp")[0].params["UserContextData"] == {"IpAddress": "198.51.100.4"}


def test_behind_a_trusted_proxy_the_forwarded_client_ip_is_sent(app, client, cognito):
    app.config["TRUSTED_PROXY_COUNT"] = 1
    client.post(
        "/register",
        json=signup_body(),
        headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.4"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )

    assert cognito.calls("SignUp")[0].params["UserContextData"]["IpAddress"] == "198.51.100.4"


def test_a_forged_forwarded_header_is_ignored_without_trusted_proxies(client, cognito):
    client.post(
        "/register",
        json=signup_body(),
        headers={"X-Forwarded-For": "6.6.6.6"},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )

    assert cognito.calls("SignUp")[0].params["UserContextData"]["IpAddress"] == "198.51.100.4"


def test_a_malformed_forwarded_address_is_never_forwarded(app, client, cognito):
    app.config["TRUSTED_PROXY_COUNT"] = 1
    response = client.post(
        "/register",
        json=signup_body(encoded_data="abc"),
        headers={"X-Forwarded-For": "not-an-address"},
    )

    assert response.status_code == 201
    assert cognito.calls("SignUp")[0].params["UserContextData"] == {"EncodedData": "abc"}


def test_a_plain_html_form_gets_a_page(client, cognito):
    response = client.post(
        "/register",
        data={"email": "ada@example.com", "password": "Correct-h0rse"},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )

    assert response.status_code == 201
    assert response.mimetype == "text/html"
    assert "a***@e***" in response.get_data(as_text=True)


def test_a_form_post_asking_for_json_gets_json(client, cognito):
    response = client.post(
        "/register",
        data={
            "email": "ada@example.com",
            "password": "Correct-h0rse",
            "validation_data[invite]": "abc",
        },
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 201
    assert response.json["user_confirmed"] is False
    assert cognito.calls("SignUp")[0].params["ValidationData"] == [
        {"Name": "invite", "Value": "abc"}
    ]


def test_a_form_error_page_names_the_field(client, cognito):
    response = client.post(
        "/register",
        data={"email": "not-an-email", "password": "Correct-h0rse"},
        headers={"Accept": "text/html"},
    )

    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert "email" in response.get_data(as_text=True)
    assert cognito.received == []
