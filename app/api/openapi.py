"""The OpenAPI document and its docs page: generated from the schemas and error types in use.

- ``GET /openapi.json``: the document; ``GET /docs``: Swagger UI (``/docs/`` redirects there),
  served from this service (the assets come from the flask-swagger-ui package), since a docs page
  loaded from a CDN is blank wherever there is no internet.
- :func:`error_answers` documents an endpoint's error answers from the ``app.errors`` types it
  can raise: one entry per status, one example per error code, in the one error shape.
- :func:`form_body` documents the ``application/x-www-form-urlencoded`` body next to the JSON
  one: the same schema plus ``redirect_to``, map fields encoded as ``name[key]=value``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import flask_smorest
import flask_swagger_ui
from flask import Blueprint, Flask
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import HTTPException

from app import errors, messages
from app.api.forms import REDIRECT_FIELD, REDIRECT_MAX_LENGTH
from app.api.negotiation import FORM_TYPE
from app.schemas import ErrorSchema

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
Every answer carries `X-Request-ID` (the one sent, if it was sane, or a new one).

Before Cognito, a sign-up passes the deployment's rules, each set by `SIGNUP_RULE_<RULE>` to
`enforce` (refused with the code below), `shadow` (let through, counted in the
`signup_rule_trips_total{rule, mode}` metric and kept on the sign-up's record) or `off`:
`honeypot`, `email_denylist` (`email_domain_denied`), `email_allowlist`
(`email_domain_not_allowed`), `disposable_email`, `email_subaddress`, `captcha`
(`captcha_failed`), `breached_password` (the Pwned Passwords range API, k-anonymity) and
`identity_budget` (`rate_limited`). `signups report` counts each rule's refused and shadowed
attempts per A/B variant.
"""


class SignupApi(flask_smorest.Api):
    """flask-smorest's Api, documenting our error shape instead of its own."""

    ERROR_SCHEMA = ErrorSchema

    def _register_pagination_header(self) -> None:
        """Nothing here pages: leave the pagination header and schema out of the document."""

    def init_app(self, app: Flask, *args: Any, **kwargs: Any) -> None:
        super().init_app(app, *args, **kwargs)
        self.ma_plugin.converter.add_attribute_function(map_limits)
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
    names: dict[str, Any] = {}
    for rule in field.key_field.validators if field.key_field else ():
        if isinstance(rule, validate.Length):
            names.update({"minLength": rule.min, "maxLength": rule.max})
        elif isinstance(rule, validate.Regexp):
            names["pattern"] = rule.regex.pattern
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
    return type(name, (schema,), {REDIRECT_FIELD: redirect_to})


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
