"""The no-JavaScript path: plain HTML forms, their re-rendering with errors, and ``redirect_to``.

A landing page may post a plain ``<form method="post">`` to /register, /register/confirm or
/register/resend. With a ``redirect_to`` field, success answers ``303 See Other`` to it, but only
to a path on this service or a URL on an origin listed in SIGNUP_CORS_ORIGINS, never anywhere
else. Errors re-render the form on this service, every field as it was posted (except the
password and the fingerprint, which are never echoed), each error beside its field, and
``redirect_to`` kept, so fixing a typo and sending again still ends on the landing page.

Errors are not sent back to the landing page in a URL: a static page cannot read a query string
without JavaScript, and field values in URLs end up in browser history and access logs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Flask, Response, current_app, g, redirect, request
from flask_babel import LazyString, gettext
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from app import errors
from app.api.negotiation import is_form, page
from app.config import origin_of
from app.languages import LANG_FIELD
from app.schemas import CAPTCHA_FIELD, CAPTCHA_WIDGET_FIELDS, passwordless

REDIRECT_FIELD = "redirect_to"
REDIRECT_MAX_LENGTH = 2048
# Never written back into a page, even to the person who typed them.
# Never echoed into a re-rendered form: secrets, and single-use captcha tokens.
SECRET_FIELDS = frozenset(
    {"password", "encoded_data", "sign_in_handle", CAPTCHA_FIELD, *CAPTCHA_WIDGET_FIELDS}
)

# Written into every form by the template itself (_forms.html), never as one of its fields.
FORM_ONLY_FIELDS = frozenset({REDIRECT_FIELD, LANG_FIELD})

FORM_ENDPOINTS = {
    "register.register": "register",
    "register.confirm": "confirm",
    "register.resend": "resend",
}


@dataclass(frozen=True)
class FieldSpec:
    """One input of a sign-up form, as the demo page and a re-rendered form show it."""

    name: str
    label: str | LazyString
    type: str = "text"
    autocomplete: str | None = None
    required: bool = False
    hint: str | LazyString | None = None
    inputmode: str | None = None


FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "register": (
        FieldSpec("email", _l("Email"), "email", "email", required=True),
        FieldSpec(
            "password",
            _l("Password"),
            "password",
            "new-password",
            required=True,
            hint=_l("At least 8 characters, with upper- and lower-case letters and a number."),
        ),
        FieldSpec("given_name", _l("First name (optional)"), autocomplete="given-name"),
    ),
    "confirm": (
        FieldSpec("username", _l("Email or username"), autocomplete="username", required=True),
        FieldSpec(
            "code",
            _l("Confirmation code"),
            autocomplete="one-time-code",
            required=True,
            inputmode="numeric",
        ),
    ),
    "resend": (FieldSpec("username", _l("Email or username"), "hidden"),),
}

# Labels for fields a landing page may add that the demo form does not show.
LABELS = {
    "username": _l("Username"),
    "phone_number": _l("Phone number"),
    "name": _l("Name"),
    "family_name": _l("Last name"),
    "middle_name": _l("Middle name"),
    "nickname": _l("Nickname"),
    "preferred_username": _l("Preferred username"),
    "birthdate": _l("Date of birth (YYYY-MM-DD)"),
}


@dataclass(frozen=True)
class BoundField:
    spec: FieldSpec
    value: str
    messages: Sequence[str]

    @property
    def id(self) -> str:
        return self.spec.name.replace("[", "-").replace("]", "").replace(":", "-")


@dataclass(frozen=True)
class FormView:
    """A form ready to render: its fields with values and errors, and errors no field shows."""

    kind: str
    endpoint: str
    fields: list[BoundField]
    redirect_to: str | None = None
    other_errors: dict[str, list[str]] = field(default_factory=dict)

    def value(self, name: str) -> str:
        return next((bound.value for bound in self.fields if bound.spec.name == name), "")


def input_name(field_name: str) -> str:
    """The form input an error's field name refers to: ``attributes.custom:plan`` is
    ``attributes[custom:plan]``."""
    top, _, key = field_name.partition(".")
    return f"{top}[{key}]" if key else top


def form_view(
    kind: str,
    values: Mapping[str, str] | None = None,
    field_errors: Mapping[str, Sequence[str]] | None = None,
    redirect_to: str | None = None,
) -> FormView:
    values = values or {}
    messages = {input_name(name): list(found) for name, found in (field_errors or {}).items()}
    specs = [spec for spec in FIELDS[kind] if not (spec.name == "password" and passwordless())]
    shown = {spec.name for spec in specs}
    # What else the landing page posted goes back with the form: shown when a person can fill
    # it in (a known attribute, or one with an error to fix), hidden otherwise.
    specs += [
        FieldSpec(name, LABELS.get(name, name), _extra_type(name, messages))
        for name in values
        if name not in shown and name not in SECRET_FIELDS and name not in FORM_ONLY_FIELDS
    ]
    names = {spec.name for spec in specs}
    if kind == "register" and "username" not in names:
        # The username defaults to the email: its errors are the email field's to show.
        messages.setdefault("email", []).extend(messages.pop("username", []))
    # A hidden field with an error is shown, so that it can be fixed.
    specs = [
        replace(spec, type="text") if spec.type == "hidden" and spec.name in messages else spec
        for spec in specs
    ]
    bound = [
        BoundField(
            spec,
            "" if spec.name in SECRET_FIELDS else values.get(spec.name, ""),
            messages.pop(spec.name, []),
        )
        for spec in specs
    ]
    endpoint = next(name for name, form in FORM_ENDPOINTS.items() if form == kind)
    return FormView(kind, endpoint, bound, redirect_to, messages)


def _extra_type(name: str, messages: Mapping[str, object]) -> str:
    return "text" if name in LABELS or name in messages else "hidden"


def checked_redirect(value: object, allowed_origins: frozenset[str]) -> str:
    """``value`` if a browser may be sent there: a path here, or an allowed origin's URL."""
    if (
        isinstance(value, str)
        and 0 < len(value) <= REDIRECT_MAX_LENGTH
        # No spaces or control characters: browsers strip some of them and read "/\t/evil"
        # as "//evil".
        and all(unicodedata.category(char)[0] not in "CZ" for char in value)
        and "\\" not in value
    ):
        if value.startswith("/") and not value.startswith("//"):
            return value
        if origin_of(value) in allowed_origins:
            return value
    raise errors.InvalidFields(
        gettext("redirect_to is not an address this service may send you to."),
        fields={
            REDIRECT_FIELD: [
                gettext(
                    "Use a path on this site or a URL on an origin listed in SIGNUP_CORS_ORIGINS."
                )
            ]
        },
    )


def take_redirect(data: dict[str, Any]) -> None:
    """Remove ``redirect_to`` from a posted form's fields, check it, and keep it for the answer.

    Checked before anything reaches Cognito: a refused address never creates an account.
    """
    if REDIRECT_FIELD in data:
        allowed = current_app.config["SIGNUP_CORS_ORIGINS"]
        g.redirect_to = checked_redirect(data.pop(REDIRECT_FIELD), allowed)


def form_answer(template: str, status: int, **context: object) -> Response:
    """A plain form's success: 303 to its checked ``redirect_to``, else a page."""
    target = g.get("redirect_to")
    if target:
        return redirect(target, 303)
    return page(template, status, **context)


def posted_form() -> FormView | None:
    """The form this request posted, re-rendered with the error being answered."""
    kind = FORM_ENDPOINTS.get(request.endpoint or "")
    if kind is None or request.method != "POST" or not is_form(request):
        return None
    error = errors.current_error()
    try:
        values = {name: value for name, value in request.form.items() if name not in SECRET_FIELDS}
    except HTTPException:  # a body too large to read stays unread
        values = {}
    field_errors = error.fields if isinstance(error, errors.APIError) else {}
    return form_view(kind, values, field_errors, g.get("redirect_to"))


def init_app(app: Flask) -> None:
    app.context_processor(lambda: {"posted_form": posted_form(), "form_view": form_view})
