"""A/B attribution: validated, stored on the record, and sent to Cognito in ClientMetadata."""

from __future__ import annotations

import pytest

from tests.conftest import signup_body
from tests.support import databases

ATTRIBUTION = {
    "variant": "spring-b",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "spring 2025",
    "utm_term": "running shoes",
    "utm_content": "hero-cta",
    "landing_page": "/spring",
}


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def metadata_client(make_app):
    return make_app(SIGNUP_CLIENT_METADATA_KEYS="plan").test_client()


def test_attribution_reaches_cognito_merged_with_the_allowed_client_metadata(
    metadata_client, cognito
):
    metadata_client.post(
        "/register", json=signup_body(**ATTRIBUTION, client_metadata={"plan": "pro"})
    )

    assert cognito.calls("SignUp")[0].params["ClientMetadata"] == {"plan": "pro", **ATTRIBUTION}
    assert cognito.violations == []


def test_attribution_is_stored_on_the_record(client, database_url):
    client.post("/register", json=signup_body(**ATTRIBUTION))

    [record] = databases.rows(database_url, "signup_records")
    assert {name: record[name] for name in ATTRIBUTION} == ATTRIBUTION


def test_a_signup_without_attribution_sends_no_client_metadata(client, cognito):
    client.post("/register", json=signup_body())

    assert "ClientMetadata" not in cognito.calls("SignUp")[0].params


def test_a_plain_form_carries_attribution_in_hidden_fields(client, cognito):
    client.post(
        "/register",
        data=signup_body(variant="spring-a", utm_source="ads"),
        headers={"Accept": "text/html"},
    )

    assert cognito.calls("SignUp")[0].params["ClientMetadata"] == {
        "variant": "spring-a",
        "utm_source": "ads",
    }


def test_the_landing_pages_query_string_is_neither_kept_nor_sent(client, cognito, database_url):
    page = "https://www.example.com/spring?email=ada%40example.com&ref=x#form"

    client.post("/register", json=signup_body(landing_page=page))

    assert cognito.calls("SignUp")[0].params["ClientMetadata"]["landing_page"] == (
        "https://www.example.com/spring"
    )
    assert databases.rows(database_url, "signup_records")[0]["landing_page"] == (
        "https://www.example.com/spring"
    )


def test_the_post_confirmation_lambda_sees_the_signups_attribution(client, cognito):
    client.post("/register", json=signup_body(variant="spring-b", utm_campaign="spring"))

    client.post(
        "/register/confirm",
        json={"username": "ada@example.com", "code": cognito.code_for("ada@example.com")},
    )

    assert cognito.calls("ConfirmSignUp")[0].params["ClientMetadata"] == {
        "variant": "spring-b",
        "utm_campaign": "spring",
    }


def test_a_resent_code_carries_the_signups_attribution(client, cognito):
    client.post("/register", json=signup_body(variant="spring-b"))

    client.post("/register/resend", json={"username": "ada@example.com"})

    assert cognito.calls("ResendConfirmationCode")[0].params["ClientMetadata"] == {
        "variant": "spring-b"
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("variant", "<script>"),
        ("variant", "x" * 65),
        ("variant", ""),
        ("utm_source", "a&b=c"),
        ("utm_medium", "50%"),
        ("utm_campaign", "caf\u00e9"),
        ("utm_term", " leading space"),
        ("utm_content", "line\nbreak"),
        ("utm_campaign", "y" * 101),
        ("landing_page", "javascript:alert(1)"),
        ("landing_page", "//evil.example/x"),
        ("landing_page", "ftp://example.com/x"),
        ("landing_page", "spring"),
        ("landing_page", "/has space"),
        ("landing_page", "/" + "p" * 512),
        ("landing_page", "https:///no-host"),
    ],
)
def test_unsafe_attribution_is_refused_naming_the_field(client, cognito, field, value):
    response = client.post("/register", json=signup_body(**{field: value}))

    assert response.status_code == 422
    assert list(response.json["fields"]) == [field]
    assert cognito.calls("SignUp") == []


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("/register", signup_body()),
        ("/register/resend", {"username": "ada@example.com"}),
        ("/register/confirm", {"username": "ada@example.com", "code": "123456"}),
    ],
)
def test_attribution_cannot_be_smuggled_through_client_metadata(make_app, cognito, endpoint, body):
    # Even when allowlisted: the record and the Lambdas must see the same, validated value.
    client = make_app(SIGNUP_CLIENT_METADATA_KEYS="variant").test_client()

    response = client.post(endpoint, json={**body, "client_metadata": {"variant": "x"}})

    assert response.status_code == 422
    assert list(response.json["fields"]) == ["client_metadata.variant"]
    assert cognito.received == []
