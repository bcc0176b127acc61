"""No answer carries a library's default message: marshmallow's, webargs', werkzeug's."""

from __future__ import annotations

import inspect
import re

import pytest
from marshmallow import Schema, fields, validate
from webargs.core import Parser
from werkzeug.exceptions import default_exceptions

from app.errors import error_body
from tests.conftest import signup_body


def _library_defaults() -> set[str]:
    templates: set[str] = set()
    for field_type in vars(fields).values():
        if inspect.isclass(field_type) and issubclass(field_type, fields.Field):
            templates.update(field_type.default_error_messages.values())
    templates.update(Schema._default_error_messages.values())
    for validator in vars(validate).values():
        if inspect.isclass(validator) and issubclass(validator, validate.Validator):
            templates.update(
                value
                for name, value in vars(validator).items()
                if isinstance(value, str) and name.startswith(("message", "default_message"))
            )
    templates.add(Parser.DEFAULT_VALIDATION_MESSAGE)
    templates.add("Invalid JSON body.")  # webargs' flaskparser
    templates.update(error.description for error in default_exceptions.values())
    # A template's literal parts ("Longer than maximum length {max}." -> "Longer than maximum
    # length "); those under three words ("Must be "), which any sentence may have, say nothing.
    parts = {part.strip() for template in templates for part in re.split(r"\{[^}]*\}", template)}
    return {part for part in parts if len(part.split()) >= 3}


LIBRARY_DEFAULTS = _library_defaults()

MAP_TOO_LONG = {f"custom:k{index}": "v" for index in range(26)}
PROVOKING = [
    ("post", "/register", {"json": {}}),
    ("post", "/register", {"json": {"email": None, "password": None, "username": None}}),
    (
        "post",
        "/register",
        {
            "json": {
                "email": "not an address",
                "password": 12,
                "website": "nope",
                "picture": 5,
                "misspelt": 1,
                "attributes": "plan",
                "validation_data": {"invite": 7},
                "birthdate": [1990],
            }
        },
    ),
    ("post", "/register", {"json": signup_body(password="", username="", given_name="")}),
    ("post", "/register", {"json": signup_body(password="x" * 300, locale="l" * 65)}),
    ("post", "/register", {"json": signup_body(attributes=MAP_TOO_LONG)}),
    ("post", "/register", {"json": signup_body(validation_data={"k" * 40: ""})}),
    ("post", "/register", {"json": signup_body(variant="v" * 100, landing_page="/" * 600)}),
    ("post", "/register", {"json": signup_body(utm_source="", landing_page="")}),
    ("post", "/register/confirm", {"json": {}}),
    ("post", "/register/confirm", {"json": {"username": "", "code": None, "extra": 1}}),
    ("post", "/register/resend", {"json": {"username": 5}}),
    ("post", "/register/resend", {"json": {"username": "u" * 200}}),
    (
        "post",
        "/register",
        {"data": {"email": "nope", "password": "x" * 300}, "headers": {"Accept": "text/html"}},
    ),
    ("post", "/register", {"data": b"{" * 70_000, "content_type": "application/json"}),
    ("get", "/nowhere", {}),
    ("get", "/register", {}),
    ("delete", "/healthz", {}),
    ("get", "/nowhere", {"headers": {"Accept": "text/html"}}),
]


def test_the_defaults_are_found():
    assert "Missing data for required field." in LIBRARY_DEFAULTS
    assert "The data value transmitted exceeds the capacity limit." in LIBRARY_DEFAULTS


@pytest.mark.parametrize(("method", "path", "request_args"), PROVOKING)
def test_no_answer_speaks_in_a_librarys_words(client, cognito, method, path, request_args):
    environ = {"REMOTE_ADDR": f"198.51.100.{PROVOKING.index((method, path, request_args))}"}
    response = getattr(client, method)(path, environ_base=environ, **request_args)

    assert response.status_code >= 400
    answer = response.get_data(as_text=True)
    assert [default for default in LIBRARY_DEFAULTS if default in answer] == []


@pytest.mark.parametrize("error_type", sorted(default_exceptions.values(), key=lambda e: e.code))
def test_werkzeugs_errors_are_answered_in_our_words(error_type):
    assert error_body(error_type())["message"] != error_type.description
