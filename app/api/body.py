"""Reading a request body: JSON from apps and fetch, or a plain HTML form, into one mapping.

flask-smorest parses arguments with webargs; this parser adds a ``body`` location that accepts
either encoding and turns every parsing and validation failure into the service's own errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, NoReturn

import flask_smorest
from flask import Request
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import MultiDict

from app import errors
from app.forms import take_redirect
from app.negotiation import is_form

JSON_TYPES = ("application/json",)

# A form sends a map field as `attributes[custom:plan]=pro`.
_FORM_MAP_KEY = re.compile(r"^(?P<field>[a-z_]+)\[(?P<key>[^\[\]]+)\]$")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise errors.InvalidFields(
            "A field was sent more than once.",
            fields={key: ["Send this field once."] for key in repeated},
        )
    return dict(pairs)


def read_json(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise errors.MalformedBody("The request body is empty.")
    try:
        document = json.loads(raw, object_pairs_hook=_reject_duplicates)
    except (ValueError, RecursionError):
        raise errors.MalformedBody("The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise errors.MalformedBody("The request body must be a JSON object.")
    return document


def read_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """A form's fields as a mapping, with `name[key]` fields gathered into maps."""
    _reject_duplicates(list(form.items(multi=True)))
    data: dict[str, Any] = {}
    for name, value in form.items():
        if value == "":
            continue  # a form sends every input, left blank or not: blank means not given
        match = _FORM_MAP_KEY.match(name)
        if match:
            data.setdefault(match["field"], {})[match["key"]] = value
        else:
            data[name] = value
    return data


def field_messages(messages: Mapping[str, Any], path: str = "") -> dict[str, list[str]]:
    """Flatten marshmallow's nested messages into ``{"attributes.custom:plan": [...]}``.

    A map's errors arrive as ``{key: {"key": [...], "value": [...]}}``; both name the entry.
    """
    flat: dict[str, list[str]] = {}
    for name, value in messages.items():
        here = ".".join(part for part in (path, str(name)) if part)
        if isinstance(value, Mapping) and set(value) <= {"key", "value"}:
            for part in value.values():
                flat.setdefault(here, []).extend(str(message) for message in part)
        elif isinstance(value, Mapping):
            flat.update(field_messages(value, here))
        else:
            flat.setdefault(here, []).extend(str(message) for message in value)
    return flat


class BodyParser(FlaskParser):
    """webargs parser with a ``body`` location for JSON or form bodies, raising our errors."""

    def load_body(self, request: Request, schema: Schema) -> dict[str, Any]:
        if request.mimetype in JSON_TYPES or request.mimetype.endswith("+json"):
            return read_json(request)
        if is_form(request):
            data = read_form(request.form)
            take_redirect(data)  # a form-only field, handled before the schema sees the rest
            return data
        raise errors.UnsupportedContentType()

    def handle_error(
        self,
        error: ValidationError,
        req: Request,
        schema: Schema,
        *,
        error_status_code: int | None,
        error_headers: Mapping[str, str] | None,
    ) -> NoReturn:
        messages = error.messages if isinstance(error.messages, Mapping) else {}
        raise errors.InvalidFields(fields=field_messages(messages.get("body", messages)))


BodyParser.__location_map__ = {**FlaskParser.__location_map__, "body": "load_body"}


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, reading arguments with :class:`BodyParser`."""

    ARGUMENTS_PARSER = BodyParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING: ClassVar[dict[str, str]] = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "body": "application/json",
    }
