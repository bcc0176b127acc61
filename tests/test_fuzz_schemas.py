"""Property tests with hypothesis: the body parser and the schemas on their own, then near-valid
sign-ups through the whole app to the strict double.

Near-valid is where the bugs are: a body that is almost right gets past most checks, so its one
odd value (a boundary length, a line end, a bidi override, a wrong type, a map in place of a
string) has to be caught by the right rule, or reach Cognito within its limits.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app import errors
from app.api import i18n
from app.api.body import BodyParser, field_messages
from app.schemas import (
    ConfirmRequest,
    ConfirmRequestSchema,
    RegisterRequestSchema,
    ResendRequest,
    ResendRequestSchema,
    SignupRequest,
)
from tests.conftest import GENEROUS_LIMITS, app_talking_to, in_ci
from tests.support import databases
from tests.support.hostile import FIELD_VALUES, body_with_changes, unprintable_sent

FAST = settings(max_examples=300, deadline=None, database=None, derandomize=in_ci())
THROUGH_THE_APP = settings(
    max_examples=250,
    deadline=None,
    database=None,
    derandomize=in_ci(),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ERROR_SHAPE = {"status", "code", "message", "fields"}

SCHEMAS = [
    (RegisterRequestSchema(), SignupRequest),
    (ConfirmRequestSchema(), ConfirmRequest),
    (ResendRequestSchema(), ResendRequest),
]
FIELD_NAMES = sorted(
    {field.data_key or name for schema, _ in SCHEMAS for name, field in schema.fields.items()}
)

# Characters and strings that have broken parsers and validators before.
EDGE_CHARACTERS = [
    "\x00", "\t", "\n", "\r", " ", "\x7f", "\x85", "\xa0", "\u0301", "\u200b", "\u200d",
    "\u2028", "\u202e", "\u2066", "\ufeff", "\uff20", "\ufffd", "\U0001f600", "\U000e0001",
    "@", "%", "+", "&", "=", "[", "]", '"', "\\", "/", ":", "é", "ß", "İ", "\u0660", "\uff11",
]  # fmt: skip
BOUNDARIES = [0, 1, 31, 32, 33, 127, 128, 129, 255, 256, 257, 2047, 2048, 2049]

boundary_text = st.builds(
    lambda char, length, tail: char * length + tail,
    st.sampled_from(["a", "é", "😀", "1"]),
    st.sampled_from(BOUNDARIES),
    st.sampled_from(["", "\n", " ", "@example.com"]),
)
# What a person could type, sometimes with one odd character in it: gets past most rules.
plausible_text = st.builds(
    lambda clean, odd, at: clean[:at] + odd + clean[at:],
    st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs")), min_size=1, max_size=40),
    st.just("") | st.sampled_from(EDGE_CHARACTERS),
    st.integers(0, 40),
)
text = st.one_of(st.text(st.characters(codec="utf-8"), max_size=40), plausible_text, boundary_text)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


# The parser and the schemas on their own


@pytest.fixture(scope="module")
def bare_app() -> Flask:
    """Only for request contexts: the parser needs a request and its messages' language, not a
    service."""
    app = Flask(__name__)
    app.config["SIGNUP_CORS_ORIGINS"] = frozenset()
    i18n.init_app(app)
    return app


def parse(app: Flask, data: bytes, content_type: str) -> dict[str, Any]:
    with app.test_request_context("/register", method="POST", data=data, content_type=content_type):
        from flask import request

        return BodyParser().load_body(request, schema=None)  # type: ignore[arg-type]


# JSON documents as a client could write them, lone surrogates escaped ("\\ud800") included.
json_documents = st.dictionaries(
    st.sampled_from(FIELD_NAMES) | text,
    st.recursive(
        st.none()
        | st.integers()
        | st.text(st.characters() | st.characters(categories=["Cs"]), max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=6,
    ),
    max_size=5,
).map(lambda document: json.dumps(document).encode())


def outcome(action: Any) -> Any:
    """What ``action()`` returned, or the exception it raised."""
    try:
        return action()
    except (errors.APIError, ValidationError) as error:
        return error


@FAST
@given(data=st.binary(max_size=300) | text.map(str.encode) | json_documents)
def test_any_bytes_parse_to_an_object_or_a_4xx(bare_app, data):
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        result = outcome(lambda: parse(bare_app, data, content_type))  # noqa: B023 - called now

        if isinstance(result, errors.APIError):
            assert 400 <= result.code < 500
        else:
            assert isinstance(result, dict)
            json.dumps(result, ensure_ascii=False).encode()  # hashable, storable, loggable


@FAST
@given(document=st.dictionaries(st.sampled_from(FIELD_NAMES) | text, json_values, max_size=8))
def test_schemas_load_anything_into_a_request_or_a_named_validation_error(document):
    for schema, result_type in SCHEMAS:
        result = outcome(lambda: schema.load(document))  # noqa: B023 - called now

        if isinstance(result, ValidationError):
            messages = result.messages if isinstance(result.messages, dict) else {}
            named = field_messages(messages)
            assert named, result.messages
            assert all(isinstance(message, str) for ms in named.values() for message in ms)
        else:
            assert isinstance(result, result_type)


# Near-valid requests through the app, to the strict double

PLACES = ("start", "middle", "end")


def with_odd(valid: str, odd: str, place: str) -> str:
    at = {"start": 0, "middle": len(valid) // 2, "end": len(valid)}[place]
    return valid[:at] + odd + valid[at:]


def value_for(valid: str) -> st.SearchStrategy[Any]:
    """Odd versions of one field's valid value, then anything at all."""
    return st.one_of(
        st.builds(
            with_odd, st.just(valid), st.sampled_from(EDGE_CHARACTERS), st.sampled_from(PLACES)
        ),
        st.builds(
            lambda filler, length: filler * length + valid,
            st.sampled_from(["a", "é", "😀", "1", " "]),
            st.sampled_from(BOUNDARIES),
        ),
        plausible_text,
        json_values,
    )


def change(path: str) -> st.SearchStrategy[tuple[str, Any]]:
    return st.sampled_from(sorted(FIELD_VALUES[path])).flatmap(
        lambda field: st.tuples(st.just(field), value_for(FIELD_VALUES[path][field]))
    )


def changes_for(path: str) -> st.SearchStrategy[tuple[str, list[tuple[str, Any]]]]:
    """One or two fields of the path's valid body changed."""
    return st.tuples(st.just(path), st.lists(change(path), min_size=1, max_size=2))


def as_form(body: dict[str, Any]) -> bytes | None:
    """The body as a browser would post it; None when a form cannot carry it."""
    pairs = []
    for name, value in body.items():
        if isinstance(value, str):
            pairs.append((name, value))
        elif isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            pairs.extend((f"{name}[{key}]", item) for key, item in value.items())
        else:
            return None
    return urlencode(pairs).encode()


@pytest.fixture(scope="module")
def fuzzed_app(cognito_server, pwned_range_server, sqlite_template, tmp_path_factory):
    url = databases.copy_sqlite(sqlite_template, tmp_path_factory.mktemp("fuzz") / "signups.db")
    settings = {
        "SIGNUP_ALLOWED_CUSTOM_ATTRIBUTES": "custom:plan",
        "SIGNUP_CLIENT_METADATA_KEYS": "source",
        "LOG_LEVEL": "WARNING",
        **GENEROUS_LIMITS,
    }
    with app_talking_to(cognito_server, pwned_range_server, DATABASE_URL=url, **settings) as app:
        yield app


@THROUGH_THE_APP
@given(request=st.sampled_from(sorted(FIELD_VALUES)).flatmap(changes_for), as_a_form=st.booleans())
def test_near_valid_requests_get_a_4xx_or_reach_cognito_within_its_limits_and_printable(
    fuzzed_app, cognito, request, as_a_form
):
    path, changes = request
    body = body_with_changes(path, changes)
    form = as_form(body) if as_a_form else None
    if form is not None:
        response = fuzzed_app.test_client().post(
            path,
            data=form,
            content_type="application/x-www-form-urlencoded",
            headers={"Accept": "application/json"},
        )
    else:
        response = fuzzed_app.test_client().post(path, json=body)

    assert response.status_code < 500, response.json
    if response.status_code >= 400:
        assert set(response.json) == ERROR_SHAPE
    assert cognito.violations == []
    assert [text for call in cognito.received for text in unprintable_sent(call.params)] == []
