"""Bad input: a 4xx naming the field, in the one error shape, and Cognito is never called."""

import json

import pytest

from app import errors
from tests.conftest import signup_body

LONG = "x" * 129


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "ada@example.com"}, "password"),
        ({"password": "Correct-h0rse"}, "username"),
        (signup_body(email="not-an-email"), "email"),
        (signup_body(email=42), "email"),
        (signup_body(username=""), "username"),
        (signup_body(username=LONG), "username"),
        (signup_body(username="ada lovelace"), "username"),
        (signup_body(username="ada\u0000"), "username"),
        (signup_body(username="ada\u200b"), "username"),  # zero-width space: a format char
        (signup_body(username=["ada"]), "username"),
        (signup_body(password="with space"), "password"),
        (signup_body(password="tab\there"), "password"),
        (signup_body(password="x" * 257), "password"),
        (signup_body(password=""), "password"),
        (signup_body(phone_number="0044123"), "phone_number"),
        (signup_body(phone_number="+1 415 555 0100"), "phone_number"),
        (signup_body(given_name="x" * 2049), "given_name"),
        (signup_body(given_name="bell\u0007"), "given_name"),
        (signup_body(birthdate="01/02/1990"), "birthdate"),
        (signup_body(website="javascript:alert(1)"), "website"),
        (signup_body(attributes={"plan": "pro"}), "attributes.plan"),
        (signup_body(attributes={"custom:" + "p" * 26: "v"}), "attributes.custom:" + "p" * 26),
        (signup_body(attributes={"custom:plan": "x" * 2049}), "attributes.custom:plan"),
        (signup_body(attributes={"custom:plan": 7}), "attributes.custom:plan"),
        (signup_body(attributes="custom:plan=pro"), "attributes"),
        (signup_body(validation_data={"": "v"}), "validation_data"),
        (signup_body(validation_data={"k" * 33: "v"}), "validation_data." + "k" * 33),
        (signup_body(validation_data={f"k{i}": "v" for i in range(26)}), "validation_data"),
        (signup_body(client_metadata={"k": ["nested"]}), "client_metadata.k"),
        (signup_body(encoded_data=""), "encoded_data"),
        (signup_body(encoded_data="has space"), "encoded_data"),
        (signup_body(analytics_endpoint_id=""), "analytics_endpoint_id"),
        (signup_body(nickname=None, unexpected="x"), "unexpected"),
    ],
)
def test_bad_signup_fields_are_named_and_never_reach_cognito(client, cognito, body, field):
    response = client.post("/register", json=body)

    assert response.status_code == 422
    assert response.json["code"] == "invalid_fields"
    assert field in response.json["fields"], response.json
    assert all(isinstance(m, str) for m in response.json["fields"][field])
    assert cognito.received == []


def test_all_bad_fields_are_reported_at_once(client, cognito):
    response = client.post("/register", json={"email": "nope", "password": "a b"})

    assert set(response.json["fields"]) == {"email", "password"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/register/confirm", {"code": "123456"}, "username"),
        ("/register/confirm", {"username": "ada"}, "code"),
        ("/register/confirm", {"username": "ada", "code": ""}, "code"),
        ("/register/confirm", {"username": "ada", "code": "12 34"}, "code"),
        ("/register/confirm", {"username": "ada", "code": "1" * 2049}, "code"),
        ("/register/confirm", {"username": LONG, "code": "1"}, "username"),
        ("/register/resend", {}, "username"),
        ("/register/resend", {"username": "a b"}, "username"),
        ("/register/resend", {"username": "ada", "encoded_data": 5}, "encoded_data"),
    ],
)
def test_bad_confirm_and_resend_fields_are_named(client, cognito, path, body, field):
    response = client.post(path, json=body)

    assert response.status_code == 422
    assert field in response.json["fields"]
    assert cognito.received == []


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_body"),
        (b"", "application/json", 400, "malformed_body"),
        (b"[1, 2]", "application/json", 400, "malformed_body"),
        (b'"a string"', "application/json", 400, "malformed_body"),
        (b"\xff\xfe\x00garbage", "application/json", 400, "malformed_body"),
        (b"[" * 100_000, "application/json", 413, "request_entity_too_large"),
        (
            b'{"email": "a@b.co", "email": "c@d.co", "password": "Correct-h0rse"}',
            "application/json",
            422,
            "invalid_fields",
        ),
        (b"email=a%40b.co&password=x", "text/plain", 415, "unsupported_media_type"),
        (b"<signup/>", "application/xml", 415, "unsupported_media_type"),
        (
            b"email=a%40b.co&email=c%40d.co&password=Correct-h0rse",
            "application/x-www-form-urlencoded",
            422,
            "invalid_fields",
        ),
    ],
)
def test_unreadable_bodies_get_a_clear_4xx(client, cognito, data, content_type, status, code):
    response = client.post(
        "/register", data=data, content_type=content_type, headers={"Accept": "application/json"}
    )

    assert response.status_code == status
    assert response.json["code"] == code
    assert set(response.json) == {"status", "code", "message", "fields"}
    assert cognito.received == []


def test_a_repeated_field_is_named(client, cognito):
    response = client.post(
        "/register",
        data=b"email=a%40b.co&email=c%40d.co&password=Correct-h0rse",
        content_type="application/x-www-form-urlencoded",
        headers={"Accept": "application/json"},
    )

    assert response.json["fields"] == {"email": ["Send this field once."]}


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, cognito):
    response = client.post("/register", json=signup_body(encoded_data="e" * 70_000))

    assert response.status_code == 413
    assert response.json["code"] == "request_entity_too_large"
    assert cognito.received == []


def test_a_missing_content_type_is_refused(client, cognito):
    response = client.post("/register", data=b'{"email": "a@b.co"}')

    assert response.status_code == 415
    assert response.json["code"] == "unsupported_media_type"
    assert response.json["message"] == errors.MissingContentType.description
    assert cognito.received == []


def test_json_sent_as_a_form_is_told_to_say_it_is_json(client, cognito):
    # What `curl -d '{...}'` sends: a JSON document labelled as a form.
    response = client.post(
        "/register",
        data=json.dumps(signup_body()),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert response.json["code"] == "malformed_body"
    assert response.json["message"] == (
        "This looks like JSON: send it with Content-Type: application/json."
    )
    assert cognito.received == []


def test_a_form_whose_values_hold_json_is_still_a_form(client, cognito):
    form = {**signup_body(), "given_name": '{"not": "json"}'}
    response = client.post("/register", data=form, headers={"Accept": "application/json"})

    assert response.status_code == 201
