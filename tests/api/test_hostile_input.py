"""Hostile input fuzzers rarely find: broken encodings, wrong types at every level, extreme shapes,
control characters and Unicode edge cases in every field, ambiguous forms.

The property everywhere: a 4xx in the one error shape naming what is wrong, never a 5xx, and
nothing refused ever reaches Cognito; what is accepted reaches it exactly as sent.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from app.api.body import MAX_DEPTH, MAX_MEMBERS
from tests.conftest import GENEROUS_LIMITS, app_talking_to, signup_body
from tests.support import databases
from tests.support.hostile import FIELD_VALUES, FORBIDDEN, body_with

ERROR_SHAPE = {"status", "code", "message", "fields"}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


HOSTILE_SETTINGS = {
    **GENEROUS_LIMITS,
    "SIGNUP_ALLOWED_CUSTOM_ATTRIBUTES": "custom:plan",
    "SIGNUP_CLIENT_METADATA_KEYS": "source",
    "SIGNUP_HIDE_EXISTING_USERS": "false",
}


@pytest.fixture
def settings(settings: dict[str, str]) -> dict[str, str]:
    return {**settings, **HOSTILE_SETTINGS}


@pytest.fixture(scope="module")
def module_app(cognito_server, pwned_range_server, sqlite_template, tmp_path_factory):
    """One app for the hundreds of requests here: the double is emptied per test by ``cognito``."""
    url = databases.copy_sqlite(sqlite_template, tmp_path_factory.mktemp("hostile") / "signups.db")
    with app_talking_to(
        cognito_server, pwned_range_server, DATABASE_URL=url, **HOSTILE_SETTINGS
    ) as app:
        yield app


@pytest.fixture
def client(module_app, cognito):
    return module_app.test_client()


def post_raw(client, path: str, data: bytes, content_type: str):
    return client.post(path, data=data, content_type=content_type, headers={"Accept": JSON})


def assert_refused(response, status: int, code: str) -> None:
    assert (response.status_code, response.json["code"]) == (status, code), response.json
    assert set(response.json) == ERROR_SHAPE


# Malformed encodings


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"email": "ada@example.com"}'.encode("utf-16"), "not valid UTF-8"),
        ('{"email": "ada@example.com"}'.encode("utf-32"), "not valid UTF-8"),
        (b'{"email": "ad\xe9@example.com", "password": "Correct-h0rse"}', "not valid UTF-8"),
        (b'{"email": "a@b.co", "password": "\xed\xa0\x80"}', "not valid UTF-8"),  # CESU surrogate
        (b'{"email": "a@b.co", "password": "Correct-h0rse", "given_name": NaN}', "not valid JSON"),
        (b'{"email": "a@b.co", "password": "Correct-h0rse", "homepage": -Infinity}', "not valid"),
        (b'{"email": "a@b.co", "password": "x"} trailing', "not valid JSON"),
        (b"\x00\x00\x00{", "not valid JSON"),
    ],
    ids=["utf-16", "utf-32", "latin-1", "encoded-surrogate", "nan", "infinity", "trailing", "nul"],
)
def test_json_that_is_not_utf8_json_is_a_400(client, cognito, data, message):
    response = post_raw(client, "/register", data, JSON)

    assert_refused(response, 400, "malformed_body")
    assert message in response.json["message"]
    assert cognito.received == []


@pytest.mark.parametrize(
    "field", ["username", "password", "given_name", "encoded_data", "homepage", "code", "\\ud800"]
)
def test_an_escaped_lone_surrogate_anywhere_is_a_400(client, cognito, field):
    # json.loads accepts "\ud800", but such a string cannot be encoded to hash, store or log.
    body = f'{{"email": "ada@example.com", "password": "Correct-h0rse", "{field}": "a\\ud800b"}}'
    if field == "password":
        body = '{"email": "ada@example.com", "password": "Correct\\udfff-h0rse"}'

    response = client.post(
        "/register",
        data=body.encode(),
        content_type=JSON,
        headers={"Accept": JSON, "Idempotency-Key": "surrogate"},
    )

    assert_refused(response, 400, "malformed_body")
    assert cognito.received == []


def test_a_utf8_byte_order_mark_is_ignored(client, cognito):
    body = b"\xef\xbb\xbf" + json.dumps(signup_body()).encode()

    response = post_raw(client, "/register", body, JSON)

    assert response.status_code == 201
    assert len(cognito.calls("SignUp")) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"email=ada%40example.com&password=Correct-h0rse&given_name=%FF%FE", "not valid UTF-8"),
        (b"email=ada%40example.com&password=Correct-h0rse&given_name=\xe9", "not valid UTF-8"),
        (b"email=ada%40example.com&password=Correct-h0rse&given_name=%ED%A0%80", "UTF-8"),
        (b"email=ada%40example.com&password=100%zz", "percent-encoded"),
        (b"email=ada%40example.com&password=Correct-h0rse%", "percent-encoded"),
        (b"email=ada%40example.com&password=Correct-h0rse%4", "percent-encoded"),
    ],
    ids=["percent-invalid", "raw-latin-1", "surrogate", "bad-escape", "bare-percent", "short"],
)
def test_a_form_that_is_not_percent_encoded_utf8_is_a_400(client, cognito, data, message):
    response = post_raw(client, "/register", data, FORM)

    assert_refused(response, 400, "malformed_body")
    assert message in response.json["message"]
    assert cognito.received == []


def test_percent_encoded_utf8_in_a_form_reaches_cognito_as_typed(client, cognito):
    data = f"email=ada%40example.com&password=Correct-h0rse&given_name={quote('Zoë 😀')}"

    response = post_raw(client, "/register", data.encode(), FORM)

    assert response.status_code == 201
    [call] = cognito.calls("SignUp")
    assert {"Name": "given_name", "Value": "Zoë 😀"} in call.params["UserAttributes"]


# Wrong JSON types at every level

WRONG_TYPES = [None, 7, 1.5, True, [], ["ada"], {}, {"a": "b"}]
SCALAR_FIELDS = {
    "/register": ["username", "password", "email", "given_name", "birthdate", "encoded_data"],
    "/register/confirm": ["username", "code", "encoded_data"],
    "/register/resend": ["username", "encoded_data"],
}
VALID = {
    "/register": signup_body(),
    "/register/confirm": {"username": "ada@example.com", "code": "123456"},
    "/register/resend": {"username": "ada@example.com"},
}


@pytest.mark.parametrize(
    ("path", "field"), [(path, name) for path, names in SCALAR_FIELDS.items() for name in names]
)
def test_a_wrong_type_in_a_field_is_named(client, cognito, path, field):
    for value in WRONG_TYPES:
        response = client.post(path, json={**VALID[path], field: value})

        assert_refused(response, 422, "invalid_fields")
        assert field in response.json["fields"], value
    assert cognito.received == []


@pytest.mark.parametrize("field", ["attributes", "validation_data", "client_metadata"])
def test_a_map_that_is_not_an_object_is_named(client, cognito, field):
    for value in [None, "custom:plan=pro", 3, True, [["custom:plan", "pro"]]]:
        response = client.post("/register", json={**signup_body(), field: value})

        assert_refused(response, 422, "invalid_fields")
        assert field in response.json["fields"], value
    assert cognito.received == []


MAP_KEYS = {"attributes": "custom:plan", "validation_data": "invite", "client_metadata": "source"}


@pytest.mark.parametrize(("field", "key"), MAP_KEYS.items())
def test_a_wrong_type_in_a_map_value_is_named_by_its_entry(client, cognito, field, key):
    for value in [None, 7, True, ["pro"], {"nested": "pro"}]:
        response = client.post("/register", json=signup_body(**{field: {key: value}}))

        assert_refused(response, 422, "invalid_fields")
        assert f"{field}.{key}" in response.json["fields"], value
    assert cognito.received == []


@pytest.mark.parametrize("document", [None, 1, "signup", [signup_body()], True])
def test_a_body_that_is_not_an_object_is_a_400(client, cognito, document):
    response = post_raw(client, "/register", json.dumps(document).encode(), JSON)

    assert_refused(response, 400, "malformed_body")
    assert cognito.received == []


# Extreme nesting and sizes


def test_nesting_past_the_limit_is_a_400_even_in_the_honeypot(client, cognito):
    deep: object = "x"
    for _ in range(MAX_DEPTH):
        deep = [deep]

    response = client.post("/register", json=signup_body(homepage=deep))

    assert_refused(response, 400, "malformed_body")
    assert "nested too deeply" in response.json["message"]


def test_nesting_too_deep_for_the_json_parser_is_a_400(client, cognito):
    data = b'{"homepage": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"

    response = client.post(
        "/register", data=data, content_type=JSON, environ_base={"CONTENT_LENGTH": str(len(data))}
    )

    assert response.status_code in (400, 413)  # the body limit may refuse it first
    assert set(response.json) == ERROR_SHAPE


@pytest.mark.parametrize("content_type", [JSON, FORM])
def test_far_more_fields_than_a_signup_has_is_a_413(client, cognito, content_type):
    extra = {f"f{index}": "x" for index in range(MAX_MEMBERS)}
    body = signup_body(**extra)
    data = (
        json.dumps(body) if content_type == JSON else "&".join(f"{k}={v}" for k, v in body.items())
    )

    response = post_raw(client, "/register", data.encode(), content_type)

    assert_refused(response, 413, "request_entity_too_large")
    assert cognito.received == []


def test_a_huge_number_is_a_400(client, cognito):
    data = b'{"email": "ada@example.com", "password": "Correct-h0rse", "homepage": ' + b"9" * 5000
    response = post_raw(client, "/register", data + b"}", JSON)

    assert_refused(response, 400, "malformed_body")


@pytest.mark.parametrize(("field", "key"), MAP_KEYS.items())
def test_a_map_with_more_than_25_entries_is_refused(settings, make_app, cognito, field, key):
    keys = ",".join(f"custom:k{index}" for index in range(26))
    app = make_app(SIGNUP_ALLOWED_CUSTOM_ATTRIBUTES=keys, SIGNUP_CLIENT_METADATA_KEYS=keys)
    prefix = "custom:" if field == "attributes" else ""
    entries = {f"{prefix}k{index}": "v" for index in range(26)}

    response = app.test_client().post("/register", json=signup_body(**{field: entries}))

    assert_refused(response, 422, "invalid_fields")
    assert field in response.json["fields"]
    assert cognito.received == []


def test_a_body_at_the_size_limit_is_read_and_one_byte_more_is_a_413(make_app, cognito):
    app = make_app(SIGNUP_MAX_BODY_BYTES="2048")
    padding = {"encoded_data": ""}
    body = signup_body(**padding)
    fill = 2048 - len(json.dumps(body).encode())
    body["encoded_data"] = "e" * fill

    at_limit = post_raw(app.test_client(), "/register", json.dumps(body).encode(), JSON)
    body["encoded_data"] += "e"
    over = post_raw(app.test_client(), "/register", json.dumps(body).encode(), JSON)

    assert at_limit.status_code == 201
    assert_refused(over, 413, "request_entity_too_large")


# Control characters and Unicode edge cases in every field

EVERY_FIELD = [(path, name) for path, names in FIELD_VALUES.items() for name in names]


@pytest.mark.parametrize(("path", "field"), EVERY_FIELD)
def test_control_and_format_characters_are_refused_in_every_field(client, cognito, path, field):
    valid = FIELD_VALUES[path][field]
    for name, char in FORBIDDEN.items():
        # At the end too: Python's "$" matches before a final newline.
        for value in (char + valid, valid[:2] + char + valid[2:], valid + char):
            response = client.post(path, json=body_with(path, field, value))

            assert_refused(response, 422, "invalid_fields")
            assert field in response.json["fields"], (name, value)
    assert cognito.received == []


@pytest.mark.parametrize(("path", "field"), EVERY_FIELD)
def test_every_field_accepts_its_valid_value(client, cognito, path, field):
    """The other side of the test above: it is the character that is refused, not the field."""
    response = client.post(path, json=body_with(path, field, FIELD_VALUES[path][field]))

    assert response.status_code < 500
    assert len(cognito.received) == 1, response.json  # past validation, on to Cognito


# Unicode people really type: each reaches Cognito exactly as sent, never normalised.
ACCEPTED_TEXT = {
    "non-bmp": "Ada 😀 \U0001d49c",  # a mathematical script A
    "combining-marks": "Zoe\u0308",
    "precomposed": "Zoë",
    "right-to-left": "עדה",
    "cjk": "エイダ",
    "fullwidth": "\uff21\uff24\uff21",
}
TEXT_FIELDS = ["given_name", "family_name", "nickname", "name", "attributes.custom:plan"]


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("value", ACCEPTED_TEXT.values(), ids=ACCEPTED_TEXT.keys())
def test_real_unicode_reaches_cognito_unchanged(client, cognito, field, value):
    response = client.post("/register", json=body_with("/register", field, value))

    assert response.status_code == 201, response.json
    [call] = cognito.calls("SignUp")
    attribute = field.removeprefix("attributes.")
    assert {"Name": attribute, "Value": value} in call.params["UserAttributes"]
    assert cognito.violations == []


@pytest.mark.parametrize(
    "username",
    ["\uff45\uff4d\uff49\uff4c\uff59", "e\u0301mile", "ünïcödé", "用户", "😀😀", "a" * 127 + "é"],
)
def test_unicode_usernames_are_sent_as_typed_with_their_secret_hash(client, cognito, username):
    response = client.post("/register", json=signup_body(username=username))

    assert response.status_code == 201
    [call] = cognito.calls("SignUp")
    assert call.params["Username"] == username
    assert cognito.violations == []  # the double checked SECRET_HASH over the same string


@pytest.mark.parametrize(
    "email",
    ["ada\uff20example.com", "ada@example.com\n", "ada@exam ple.com", "ada@@example.com"],
    ids=["fullwidth-at", "trailing-newline", "space", "two-ats"],
)
def test_look_alike_and_padded_email_addresses_are_refused(client, cognito, email):
    response = client.post("/register", json=signup_body(email=email))

    assert_refused(response, 422, "invalid_fields")
    assert "email" in response.json["fields"]
    assert cognito.received == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone_number", "+1415555010\u0660"),  # an Arabic-Indic zero
        ("phone_number", "+14155550100\n"),
        ("birthdate", "\u0661\u0668\u0661\u0665-12-10"),
        ("birthdate", "1815-02-30"),
        ("birthdate", "1815-12-10\n"),
        ("variant", "spring\n"),
        ("landing_page", "/spring\n"),
        ("encoded_data", "abc\n"),
    ],
)
def test_digits_and_line_ends_a_regular_expression_lets_through_are_refused(
    client, cognito, field, value
):
    response = client.post("/register", json=signup_body(**{field: value}))

    assert_refused(response, 422, "invalid_fields")
    assert field in response.json["fields"]
    assert cognito.received == []


def test_a_code_with_a_trailing_newline_never_reaches_cognito(client, cognito):
    response = client.post("/register/confirm", json={"username": "ada", "code": "123456\n"})

    assert_refused(response, 422, "invalid_fields")
    assert "code" in response.json["fields"]
    assert cognito.received == []


def test_without_a_username_an_email_too_long_for_one_is_refused(client, cognito):
    email = "a" * 120 + "@example.com"  # a valid address of 132 characters

    response = client.post("/register", json=signup_body(email=email))

    assert_refused(response, 422, "invalid_fields")
    assert "email" in response.json["fields"]
    assert cognito.received == []


def test_with_a_username_a_long_email_is_fine(client, cognito):
    email = "a" * 120 + "@example.com"

    response = client.post("/register", json=signup_body(email=email, username="ada"))

    assert response.status_code == 201
    assert cognito.violations == []


# Ambiguous input


@pytest.mark.parametrize(
    "data",
    [
        b"email=a%40b.co&password=Correct-h0rse&password=Other-h0rse",
        b"email=a%40b.co&password=Correct-h0rse&password=",
        b"email=a%40b.co&password=Correct-h0rse&attributes[custom:plan]=a&attributes[custom:plan]=b",
    ],
    ids=["twice", "second-blank", "map-entry-twice"],
)
def test_a_form_field_sent_twice_is_refused(client, cognito, data):
    response = post_raw(client, "/register", data, FORM)

    assert_refused(response, 422, "invalid_fields")
    assert cognito.received == []


def test_a_map_sent_both_whole_and_by_entries_is_refused(client, cognito):
    data = b"email=a%40b.co&password=Correct-h0rse&attributes=x&attributes[custom:plan]=pro"

    response = post_raw(client, "/register", data, FORM)

    assert_refused(response, 422, "invalid_fields")
    assert "attributes" in response.json["fields"]
    assert cognito.received == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (signup_body(attributes={"email": "b@example.com"}), "attributes.email"),
        (signup_body(attributes={"custom:role": "admin"}), "attributes.custom:role"),
        (signup_body(attributes={"Custom:plan": "pro"}), "attributes.Custom:plan"),
        (signup_body(attributes={"custom:plan ": "pro"}), "attributes.custom:plan "),
        (signup_body(email_verified="true"), "email_verified"),
        (signup_body(sub="1234"), "sub"),
        (signup_body(Email="b@example.com"), "Email"),
        (signup_body(client_metadata={"variant": "b"}), "client_metadata.variant"),
        (signup_body(client_metadata={"admin": "true"}), "client_metadata.admin"),
    ],
)
def test_attributes_and_fields_that_are_not_allowed_are_named(client, cognito, body, field):
    response = client.post("/register", json=body)

    assert_refused(response, 422, "invalid_fields")
    assert field in response.json["fields"]
    assert cognito.received == []


@pytest.mark.parametrize(
    "header",
    ["x" * 256, "key with spaces", "ключ", "key\tx"],
    ids=["too-long", "spaces", "non-ascii", "tab"],
)
def test_an_unusable_idempotency_key_is_named(client, cognito, header):
    response = client.post("/register", json=signup_body(), headers={"Idempotency-Key": header})

    assert_refused(response, 422, "invalid_fields")
    assert "Idempotency-Key" in response.json["fields"]
    assert cognito.received == []


def test_a_hostile_request_id_is_replaced_not_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "<script>" + "x" * 500})

    assert response.headers["X-Request-ID"].isalnum()
