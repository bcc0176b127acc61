"""Reading a request body: JSON from apps and fetch, or a plain HTML form, into one mapping.

flask-smorest parses arguments with webargs; this parser adds a ``body`` location that accepts
either encoding and turns every parsing and validation failure into the service's own errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, NoReturn
from urllib.parse import unquote_to_bytes

import flask_smorest
from flask import Request, g
from flask_babel import gettext, refresh
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from app import errors
from app.api.forms import take_redirect
from app.api.negotiation import is_form

JSON_TYPES = ("application/json",)

# A form sends a map field as `attributes[custom:plan]=pro`.
_FORM_MAP_KEY = re.compile(r"^(?P<field>[a-z_]+)\[(?P<key>[^\[\]]+)\]$")
# A "%" not followed by two hex digits: werkzeug would keep it as text, a guess we do not make.
_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")

# The shape of a body, besides its size in bytes (SIGNUP_MAX_BODY_BYTES): a sign-up has about 40
# fields and maps of at most 25 entries, nothing deeper than a map. Far past both, a body is
# refused before any schema walks it.
MAX_MEMBERS = 256
MAX_DEPTH = 8


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise errors.InvalidFields(
            gettext("A field was sent more than once."),
            fields={key: [gettext("Send this field once.")] for key in repeated},
        )
    return dict(pairs)


def read_body(request: Request) -> bytes:
    """The body's bytes, kept for a second reading; 413 past MAX_CONTENT_LENGTH, chunked or not."""
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    # A chunked body is cut at the limit without a word from werkzeug: a form would lose the
    # end of its last field (a password, say). One more byte means there was more.
    streamed = request.content_length is None and limit is not None
    if streamed and len(raw) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return raw


def read_json(request: Request) -> dict[str, Any]:
    """A JSON object in UTF-8 (RFC 8259), or MalformedBody: never a guess at another encoding."""
    raw = read_body(request)
    if not raw.strip():
        raise errors.MalformedBody(gettext("The request body is empty."))
    try:
        # A byte order mark is ignored, as RFC 8259 allows; UTF-16 and UTF-32 are refused.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise errors.MalformedBody(gettext("The request body is not valid UTF-8.")) from None
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise errors.MalformedBody(gettext("The request body is not valid JSON.")) from None
    if not isinstance(document, dict):
        raise errors.MalformedBody(gettext("The request body must be a JSON object."))
    check_shape(document)
    return document


def _not_json(constant: str) -> NoReturn:
    """NaN and Infinity: Python reads them, JSON has no such values."""
    raise ValueError(f"{constant} is not JSON")


def check_shape(document: Mapping[str, Any]) -> None:
    """Refuse bodies with far too many members or levels, or text that is not Unicode.

    JSON can escape half a surrogate pair ("\\ud800"): such a string cannot be encoded, so it
    would fail wherever it is hashed, stored or logged. Walked without recursion, on purpose.
    """
    members = 0
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise errors.MalformedBody(gettext("The request body is nested too deeply."))
        if isinstance(value, Mapping):
            members += len(value)
            for key, item in value.items():
                _check_text(key)
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            members += len(value)
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)
        if members > MAX_MEMBERS:
            raise errors.TooManyFields()


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.MalformedBody(
            gettext("The request body contains text that is not valid Unicode (a lone surrogate).")
        ) from None


def check_form_encoding(raw: bytes) -> None:
    """A form must be percent-encoded UTF-8, as browsers send it; werkzeug would patch it up."""
    if _BAD_PERCENT.search(raw):
        raise errors.MalformedBody(gettext("The form is not correctly percent-encoded."))
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise errors.MalformedBody(gettext("The form is not valid UTF-8.")) from None


def read_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """A form's fields as a mapping, with `name[key]` fields gathered into maps."""
    _reject_duplicates(list(form.items(multi=True)))
    data: dict[str, Any] = {}
    for name, value in form.items():
        if value == "":
            continue  # a form sends every input, left blank or not: blank means not given
        match = _FORM_MAP_KEY.fullmatch(name)
        if match:
            entries = data.setdefault(match["field"], {})
            if not isinstance(entries, dict):
                raise _both_forms(match["field"])
            entries[match["key"]] = value
        elif name in data:
            raise _both_forms(name)
        else:
            data[name] = value
    check_shape(data)
    return data


def _both_forms(name: str) -> errors.InvalidFields:
    message = gettext(
        "Send %(name)s either as one value or as %(name)s[key] entries, not both.", name=name
    )
    return errors.InvalidFields(message, fields={name: [message]})


def _parse(request: Request) -> dict[str, Any]:
    if request.mimetype in JSON_TYPES or request.mimetype.endswith("+json"):
        return read_json(request)
    if is_form(request):
        # Read first: werkzeug then parses the form from the cached bytes.
        raw = read_body(request)
        if looks_like_json(raw):
            raise errors.JsonSentAsForm()
        check_form_encoding(raw)
        data = read_form(request.form)
        take_redirect(data)  # a form-only field, handled before the schema sees the rest
        return data
    if not request.mimetype and read_body(request):
        raise errors.MissingContentType()
    raise errors.UnsupportedContentType()


def looks_like_json(raw: bytes) -> bool:
    """A JSON object sent as a form (``curl -d '{...}'``): no browser's form starts with "{"."""
    if not raw.lstrip().startswith(b"{"):
        return False
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


def parsed_body() -> dict[str, Any]:
    """This request's body as :class:`BodyParser` read it, before any schema: read once."""
    return g.parsed_body


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
        g.parsed_body = data = _parse(request)
        if "lang" in data:
            refresh()  # the body names the language: choose it again, should it be chosen already
        return data

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
