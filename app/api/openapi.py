"""The OpenAPI document and its docs page: generated from the schemas and error types in use.

- ``GET /openapi.json``: the document; ``GET /docs``: Swagger UI (``/docs/`` redirects there),
  served from this service (the assets come from the flask-swagger-ui package), since a docs page
  loaded from a CDN is blank wherever there is no internet.
- :func:`error_answers` documents an endpoint's error answers from the ``app.errors`` types it
  can raise: one entry per status, one example per error code, in the one error shape.
- :func:`form_body` documents the ``application/x-www-form-urlencoded`` body next to the JSON
  one: the same schema plus ``redirect_to``, map fields encoded as ``name[key]=value``, and a
  blank optional field allowed, since a blank field counts as not given.
- :class:`SignupConverter` writes what the schemas check beyond single fields (a username or an
  email, a password unless passwordless) and the character rules as ECMA-262 patterns, so the
  document admits exactly what the service accepts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import flask_smorest
import flask_swagger_ui
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Blueprint, Flask
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import HTTPException

from app import errors, messages
from app.api.forms import REDIRECT_FIELD, REDIRECT_MAX_LENGTH
from app.api.negotiation import FORM_TYPE
from app.schemas import Characters, ErrorSchema, RegisterRequestSchema

F = TypeVar("F", bound=Callable[..., Any])

DOCS_PATH = "docs"
ASSETS_URL = "/docs/assets/"
SWAGGER_UI_DIR = Path(flask_swagger_ui.__file__).parent / "dist"

DESCRIPTION = """\
Turns sign-up forms into Amazon Cognito users: sign up, confirm with the emailed code, re-send it.

Every request body may be JSON or a plain HTML form (`application/x-www-form-urlencoded`). A form
posted by a browser (`Accept: text/html`) is answered with a page, or with `303 See Other` to its
`redirect_to`. Every error, on every path, has the same JSON shape (`Error`): `code` is stable
and machine-readable, `message` is safe to show, `fields` names the request fields at fault.
Every answer carries `X-Request-ID` (the one sent, if it was sane, or a new one). A body over
SIGNUP_MAX_BODY_BYTES (64 KiB by default) is answered 413, however valid its fields. In a form, a
blank field counts as not given.

Before Cognito, a sign-up passes the deployment's rules, each set by `SIGNUP_RULE_<RULE>` to
`enforce` (refused with the code below), `shadow` (let through, counted in the
`signup_rule_trips_total{rule, mode}` metric and kept on the sign-up's record) or `off`:
`honeypot`, `email_denylist` (`email_domain_denied`), `email_allowlist`
(`email_domain_not_allowed`), `disposable_email`, `email_subaddress`, `captcha`
(`captcha_failed`), `breached_password` (the Pwned Passwords range API, k-anonymity) and
`identity_budget` (`rate_limited`). `signups report` counts each rule's refused and shadowed
attempts per A/B variant.
"""


class FormVariant:
    """Marks the form-encoded variant of a request schema (see :func:`form_variant`)."""


def body_rules(schema: type[Schema], *, passwordless: bool) -> dict[str, Any]:
    """What a request schema checks across fields (its ``validates_schema``), as JSON Schema.

    In a form a blank field is not given, so there "given" also means "not blank".
    """
    if not issubclass(schema, RegisterRequestSchema):
        return {}
    form = issubclass(schema, FormVariant)

    def given(name: str, **rules: object) -> dict[str, Any]:
        if form:
            rules = {"minLength": 1, **rules}
        return {"required": [name], **({"properties": {name: rules}} if rules else {})}

    # Without a username the email is the username, within the username's limit.
    identity = {"anyOf": [given("username"), given("email", maxLength=128)]}
    if not passwordless:
        return {"allOf": [identity, given("password")]}
    # Without a password, sign-in codes go to an email or a phone number.
    contact = {"anyOf": [given("password"), given("email"), given("phone_number")]}
    return {"allOf": [identity, contact]}


def blank_allowed(jsonschema: dict[str, Any]) -> dict[str, Any]:
    """A form's optional fields and map entries may be blank: blank means not given."""
    required = set(jsonschema.get("required", ()))
    properties = jsonschema["properties"]
    for name, rules in properties.items():
        if "type" not in rules and "additionalProperties" not in rules:
            rules["type"] = "string"  # the honeypot takes anything, and a form sends text
        if name in required:
            continue
        if "additionalProperties" in rules:
            properties[name] = blank_entries_allowed(rules)
        else:
            properties[name] = {"anyOf": [rules, {"const": ""}]}
    return jsonschema


def blank_entries_allowed(rules: dict[str, Any]) -> dict[str, Any]:
    """A form's map, whose blank entries are dropped unread: a name breaking the rules is fine
    as long as its value is blank."""
    rules = dict(rules)
    rules["additionalProperties"] = {"anyOf": [rules["additionalProperties"], {"const": ""}]}
    # Blank entries do not count either; JSON Schema cannot count the others, so the limit is
    # said in words (a map past it is refused with 422 on the field).
    most = rules.pop("maxProperties", None)
    if most is not None:
        said = f"At most {most} entries that are not blank."
        rules["description"] = " ".join(filter(None, (rules.get("description"), said)))
    names = rules.pop("propertyNames", None)
    if names:
        low, high = names.get("minLength", 0), names.get("maxLength", "")
        patterns = [names["pattern"], *(rule["pattern"] for rule in names.get("allOf", ()))]
        # Every pattern here is anchored at the start (^): each becomes a lookahead.
        valid = "".join(f"(?={pattern[1:]})" for pattern in patterns if pattern)
        rules["patternProperties"] = {f"^(?!(?=[\\s\\S]{{{low},{high}}}$){valid})": {"const": ""}}
    return rules


# What app.api.forms.checked_redirect lets through: no spaces, controls or backslashes.
_URL_TAIL = r"[^\p{C}\p{Z}\\]*"


def redirect_pattern(origins: Iterable[str]) -> str:
    """``redirect_to`` as checked_redirect takes it: a path here, or a URL on an allowed origin
    (written as the origin is listed, lower-case and without its default port)."""
    escaped = ["".join(f"\\{c}" if c in ".[]" else c for c in origin) for origin in sorted(origins)]
    urls = "".join(f"|{origin}(?:[/?#]{_URL_TAIL})?" for origin in escaped)
    return f"^(?:/(?!/){_URL_TAIL}{urls})$"


class SignupConverter(OpenAPIConverter):
    """apispec's converter, adding each request schema's cross-field rules (:func:`body_rules`)."""

    # The app's config, set by SignupApi.init_app; read when the blueprints are registered,
    # once every setting is in it.
    config: Mapping[str, Any] = {}

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        jsonschema = super().schema2jsonschema(schema)
        schema_cls = resolve_schema_cls(schema)
        if issubclass(schema_cls, FormVariant):
            origins = self.config.get("SIGNUP_CORS_ORIGINS", ())
            jsonschema["properties"][REDIRECT_FIELD]["pattern"] = redirect_pattern(origins)
            blank_allowed(jsonschema)
        passwordless = bool(self.config.get("SIGNUP_PASSWORDLESS"))
        return {**jsonschema, **body_rules(schema_cls, passwordless=passwordless)}


class SignupPlugin(MarshmallowPlugin):
    Converter = SignupConverter


class SignupApi(flask_smorest.Api):
    """flask-smorest's Api, documenting our error shape instead of its own."""

    ERROR_SCHEMA = ErrorSchema
    # Every answer an operation gives is documented on its own: a catch-all "default" would
    # make any status conform.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_pagination_header(self) -> None:
        """Nothing here pages: leave the pagination header and schema out of the document."""

    def init_app(self, app: Flask, *args: Any, **kwargs: Any) -> None:
        super().init_app(app, *args, spec_kwargs={"marshmallow_plugin": SignupPlugin()}, **kwargs)
        converter = self.ma_plugin.converter
        converter.config = app.config
        converter.add_attribute_function(map_limits)
        converter.add_attribute_function(character_rules)
        app.register_blueprint(
            Blueprint(
                "docs_assets",
                __name__,
                static_folder=str(SWAGGER_UI_DIR),
                static_url_path=ASSETS_URL.rstrip("/"),
            )
        )
        # /docs/ is what people type as often as /docs: send them there (308).
        app.add_url_rule(f"/{DOCS_PATH}/", "docs_slash", redirect_to=f"/{DOCS_PATH}")


# Created unbound, bound to the app in ``create_app``.
api = SignupApi()


def config() -> dict[str, Any]:
    """flask-smorest's settings for the document and the docs page."""
    return {
        "API_TITLE": "Signup service",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": DOCS_PATH,
        "OPENAPI_SWAGGER_UI_URL": ASSETS_URL,
        "API_SPEC_OPTIONS": {"info": {"description": DESCRIPTION}},
    }


def pattern_keywords(rules: Sequence[Any]) -> dict[str, Any]:
    """The patterns of ``rules`` (Regexp validators, then character rules) as JSON Schema.

    One ``pattern`` per schema: a second one joins it under ``allOf``.
    """
    patterns = [rule.regex.pattern for rule in rules if isinstance(rule, validate.Regexp)]
    patterns += [url_pattern(rule) for rule in rules if isinstance(rule, validate.URL)]
    patterns += [EMAIL_PATTERN for rule in rules if isinstance(rule, validate.Email)]
    patterns += [rule.pattern for rule in rules if isinstance(rule, Characters)]
    if not patterns:
        return {}
    first, *others = patterns
    return {"pattern": first, **({"allOf": [{"pattern": p} for p in others]} if others else {})}


def _any_case(word: str) -> str:
    return "".join(f"[{char.upper()}{char.lower()}]" if char.isalpha() else char for char in word)


def url_pattern(rule: validate.URL) -> str:
    """marshmallow's URL validator (absolute, with a TLD) in ECMA-262: its regex, which Python
    reads case-insensitively and with Unicode digits, and its check of the scheme.

    Its ``\\S`` differs from ECMA-262's only on control and format characters, which every URL
    field's character rule refuses anyway.
    """
    if rule.relative or not rule.require_tld:
        raise ValueError("Only absolute URLs with a TLD are documented")
    letter = r"A-Za-z0-9\u00a1-\uffff"
    label = rf"[{letter}](?:[{letter}\-]{{0,61}}[{letter}])?"
    hostname = "|".join(
        (
            rf"(?:{label}\.)+(?:[A-Za-z\u00a1-\uffff]{{2,6}}\.?|[{letter}\-]{{2,}}\.?)",
            _any_case("localhost"),
            r"\p{Nd}{1,3}\.\p{Nd}{1,3}\.\p{Nd}{1,3}\.\p{Nd}{1,3}",
            r"\[[A-Fa-f0-9]*:[A-Fa-f0-9:]+\]",
        )
    )
    schemes = "|".join(_any_case(scheme) for scheme in sorted(rule.schemes))
    userinfo = r"(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*@)?"
    return rf"^(?:{schemes})://{userinfo}(?:{hostname})(?::\p{{Nd}}+)?(?:/?|[/?#]\S+)$"


_EMAIL_LETTER = r"A-Za-z0-9\u00a1-\uffff"
_EMAIL_ATOM = r"[\-!#$%&'*+/=?^`{}|~\p{L}\p{N}_]+"
_EMAIL_BYTE = r"(?:25[0-5]|2[0-4]\p{Nd}|[0-1]?\p{Nd}?\p{Nd})"
# marshmallow's Email validator in ECMA-262: a dot-atom or quoted local part, then a domain with
# a TLD, an IPv4 literal, or localhost. Python reads its \w as letters, numbers and "_".
EMAIL_PATTERN = (
    rf"^(?:{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*"
    r'|"(?:[\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*")@'
    rf"(?:(?:[{_EMAIL_LETTER}](?:[{_EMAIL_LETTER}\-]{{0,61}}[{_EMAIL_LETTER}])?\.)+"
    rf"(?:[A-Za-z\u00a1-\uffff]{{2,6}}|[{_EMAIL_LETTER}\-]{{2,}})"
    rf"|\[{_EMAIL_BYTE}(?:\.{_EMAIL_BYTE}){{3}}\]|localhost)$"
)


def character_rules(self: Any, field: fields.Field, ret: dict[str, Any], **kwargs: Any) -> dict:
    """apispec attribute function: a field's patterns, its URL and character rules among them.

    apispec documents only the first Regexp, a URL as ``format: url`` (which JSON Schema does
    not know), and nothing of :class:`Characters`.
    """
    if isinstance(field, fields.Dict):
        return {}
    if any(isinstance(rule, (validate.URL, validate.Email)) for rule in field.validators):
        # The pattern says exactly what is accepted; a format would be read more loosely (a
        # one-letter TLD) or not at all ("url" is not a JSON Schema format).
        ret.pop("format", None)
    return pattern_keywords(field.validators)


def map_limits(self: Any, field: fields.Field, ret: dict[str, Any], **kwargs: Any) -> dict:
    """apispec attribute function: a Dict's Length limits entries, and its keys have limits.

    apispec documents ``Length`` on a Dict as a string's minLength/maxLength; JSON Schema
    calls them minProperties/maxProperties, and the key rules belong in propertyNames.
    """
    if not isinstance(field, fields.Dict):
        return {}
    extra: dict[str, Any] = {}
    for length, properties in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
        if length in ret:
            extra[properties] = ret.pop(length)
    rules = field.key_field.validators if field.key_field else ()
    names: dict[str, Any] = {}
    for rule in rules:
        if isinstance(rule, validate.Length):
            names.update({"minLength": rule.min, "maxLength": rule.max})
    names.update(pattern_keywords(rules))
    if names:
        extra["propertyNames"] = {key: value for key, value in names.items() if value is not None}
    return extra


# What each example error says about which field is at fault, as the real answers do.
_EXAMPLE_FIELDS: dict[type[HTTPException], dict[str, list[str]]] = {
    errors.InvalidFields: {"email": [messages.EMAIL_MESSAGE]},
    errors.CodeMismatch: {"code": [errors.CodeMismatch.description]},
    errors.CodeExpired: {"code": [errors.CodeExpired.description]},
    errors.UsernameTaken: {"username": [errors.UsernameTaken.description]},
    errors.UserNotFound: {"username": [errors.UserNotFound.description]},
    errors.BreachedPassword: {"password": [errors.BreachedPassword.description]},
    **{
        email_error: {"email": [email_error.description]}
        for email_error in (
            errors.DisposableEmail,
            errors.EmailDomainDenied,
            errors.EmailDomainNotAllowed,
            errors.EmailSubaddress,
        )
    },
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def example_error(error_type: type[HTTPException]) -> dict[str, object]:
    if error_type is errors.RateLimited:  # its message says how long to wait
        example = errors.RateLimited(limit_name="per_ip", limit=10, reset_at=0, retry_after=60)
        return errors.error_body(example)
    fields_at_fault = _EXAMPLE_FIELDS.get(error_type)
    if fields_at_fault is not None and issubclass(error_type, errors.APIError):
        return errors.error_body(error_type(fields=fields_at_fault))
    return errors.error_body(error_type())


def error_answers(
    blp: flask_smorest.Blueprint, *error_types: type[HTTPException]
) -> Callable[[F], F]:
    """Document every error answer of a view, grouped by status, with one example per code."""
    by_status: dict[int, list[type[HTTPException]]] = defaultdict(list)
    for error_type in error_types:
        by_status[int(error_type.code or 500)].append(error_type)

    def decorate(view: F) -> F:
        answers = []
        for status in sorted(by_status, reverse=True):
            bodies = [example_error(error_type) for error_type in by_status[status]]
            answers.append(
                blp.alt_response(
                    status,
                    schema=ErrorSchema,
                    description="\n".join(
                        f"- `{body['code']}`: {body['message']}" for body in bodies
                    ),
                    examples={str(body["code"]): {"value": body} for body in bodies},
                    headers=_RETRY_AFTER if status in (429, 503) else None,
                )
            )
        # A browser's form post gets the error as a page (the form again, with the messages).
        pages = {
            status: {"content": {"text/html": {"schema": {"type": "string"}}}}
            for status in by_status
        }
        answers.append(flask_smorest.Blueprint.doc(responses=pages))
        return documented(view, *answers)

    return decorate


def documented(view: F, *alt_responses: Callable[[F], F]) -> F:
    """``view`` carrying the documentation flask-smorest's ``alt_response`` decorators write, but
    none of their wrappers: each wraps the view in a layer that only calls the next, run on every
    request (a dozen on /register). flask-smorest reads the documentation from ``_apidoc``.
    """
    wrapped = view
    for alt_response in alt_responses:
        wrapped = alt_response(wrapped)
    view._apidoc = wrapped._apidoc  # type: ignore[attr-defined]
    return view


def form_variant(schema: type[Schema]) -> type[Schema]:
    """``schema`` plus the form-only ``redirect_to`` field, documented under its own name."""
    redirect_to = fields.String(
        validate=validate.Length(min=1, max=REDIRECT_MAX_LENGTH),
        metadata={
            "description": "Forms only. Where to send the browser (303) on success: a path on "
            "this service, or a URL whose origin is in SIGNUP_CORS_ORIGINS. Anything else is "
            "refused with 422 before the request reaches Cognito."
        },
    )
    name = schema.__name__.replace("Schema", "FormSchema")
    return type(name, (schema, FormVariant), {REDIRECT_FIELD: redirect_to})


def form_body(schema: type[Schema]) -> Callable[[F], F]:
    """Document the form-encoded body beside the JSON one (flask-smorest documents one)."""
    maps = [name for name, field in schema().fields.items() if isinstance(field, fields.Dict)]
    content = {
        "schema": form_variant(schema),
        # `attributes[custom:plan]=pro` is exactly OpenAPI's deepObject style.
        "encoding": {name: {"style": "deepObject", "explode": True} for name in maps},
    }
    return flask_smorest.Blueprint.doc(requestBody={"content": {FORM_TYPE: content}})


def page_answers(blp: flask_smorest.Blueprint, status: int, description: str) -> Callable[[F], F]:
    """Document what a plain form post gets on success: a page, or a 303 to ``redirect_to``."""

    def decorate(view: F) -> F:
        return documented(
            view,
            blp.alt_response(
                303,
                schema={"type": "string"},
                content_type="text/html",
                description="A form with `redirect_to` was accepted: the browser goes there.",
                headers={"Location": {"schema": {"type": "string"}}},
                success=True,
            ),
            blp.alt_response(
                status,
                schema={"type": "string"},
                content_type="text/html",
                description=description,
                success=True,
            ),
        )

    return decorate
