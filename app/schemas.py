"""Request and response schemas: the single source for validation and the OpenAPI document.

Every limit Cognito applies but botocore does not check (see docs/cognito.md) is enforced here, so
a request that would break one is answered with a field error and never reaches Cognito.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import current_app, has_app_context
from flask_babel import LazyString, gettext
from flask_babel import lazy_gettext as _l
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from app import messages
from app.attribution import Attribution, AttributionFields
from app.fields import (
    Dict,
    Email,
    Length,
    OneOf,
    Raw,
    String,
    Url,
)
from app.languages import LANG_FIELD, LANGUAGES
from app.patterns import Pattern

ATTRIBUTE_VALUE_MAX = 2048
ATTRIBUTE_NAME_MAX = 32
MAP_ENTRIES_MAX = 25
CONTEXT_DATA_MAX = 131072
# Turnstile documents 2048; hCaptcha's and reCAPTCHA's tokens are of the same order.
CAPTCHA_TOKEN_MAX = 8192

# A field people never see and bots fill in. Not a Cognito attribute (`website` is one), and
# named so that browsers' autofill has nothing to put in it.
HONEYPOT_FIELD = "homepage"
CAPTCHA_FIELD = "captcha_token"
# Where each provider's widget puts its token in a plain HTML form.
CAPTCHA_WIDGET_FIELDS = ("cf-turnstile-response", "h-captcha-response", "g-recaptcha-response")

# Standard OIDC attributes a sign-up form may set directly, each a top-level field of its own.
STANDARD_ATTRIBUTES = (
    "email",
    "phone_number",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "gender",
    "birthdate",
    "locale",
    "zoneinfo",
    "website",
    "picture",
    "profile",
)


# The space separators (Zs), unchanged since Unicode 4.1, spelled out: some tools (schemathesis
# among them) read \p{Zs} as any whitespace, tabs and line breaks included.
_SPELLED = {"Zs": r"\x20\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"}


class Characters(validate.Validator):
    """Only characters whose Unicode category starts with one of ``allowed``, or is one of ``also``.

    ``pattern`` is the same rule in ECMA-262 with the ``u`` flag, as JSON Schema reads patterns:
    the OpenAPI document shows it (app/api/openapi.py), so a client checks what we check. A lone
    surrogate (category Cs) or an unassigned code point (Cn) matches neither.
    """

    def __init__(
        self, allowed: str, error: str | LazyString, *, also: frozenset[str] = frozenset()
    ) -> None:
        self.allowed = allowed
        self.also = also
        self.error = error
        classes = "".join(
            _SPELLED.get(name, f"\\p{{{name}}}") for name in (*allowed, *sorted(also))
        )
        self.pattern = f"^[{classes}]*$"

    def __call__(self, value: str) -> str:
        for char in value:
            category = unicodedata.category(char)
            if category[0] not in self.allowed and category not in self.also:
                raise ValidationError(str(self.error))
        return value


# Cognito's Username pattern is [\p{L}\p{M}\p{S}\p{N}\p{P}]+: no spaces, no control characters.
username_characters = Characters("LMSNP", _l("Use letters, numbers and symbols, no spaces."))
# Password is [\S]+; control characters are refused too, since no keyboard types them. The same
# goes for every token-like field (codes, fingerprints, captcha tokens): no spaces, no controls.
visible = Characters("LMSNP", _l("Must not contain spaces or control characters."))
password_characters = visible
# Free text (names, locale) may contain spaces but never control characters or line breaks
# (U+2028 and U+2029 are separators, not spaces: they would break a name across lines).
printable = Characters(
    "LMSNP", _l("Must not contain control characters or line breaks."), also=frozenset({"Zs"})
)
no_spaces = re.compile(r"^\S+$")


ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def real_date(value: str) -> None:
    """A YYYY-MM-DD that is a day in the calendar (not 1990-02-30); ISO_DATE checks the form."""
    if not ISO_DATE.fullmatch(value):
        return
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValidationError(gettext("Use a real date.")) from None


def text(max_length: int, **kwargs: Any) -> String:
    return String(validate=[Length(min=1, max=max_length), printable], **kwargs)


def string_map(key_max: int, value_max: int, key_rule: Any = None, **kwargs: Any) -> Dict:
    key_validators: list[Any] = [Length(min=1, max=key_max), printable]
    if key_rule is not None:
        key_validators.append(key_rule)
    return Dict(
        keys=String(validate=key_validators),
        values=String(validate=[Length(max=value_max), printable]),
        validate=Length(max=MAP_ENTRIES_MAX),
        **kwargs,
    )


custom_attribute_name = validate.Regexp(
    r"^custom:", error=_l("Only custom: attributes go here; send standard ones as fields.")
)


@dataclass(frozen=True)
class SignupRequest:
    """A validated sign-up: attributes under their Cognito names, custom ones included."""

    username: str
    password: str | None  # None: a passwordless sign-up (SIGNUP_PASSWORDLESS)
    attributes: dict[str, str]
    validation_data: dict[str, str] = field(default_factory=dict)
    client_metadata: dict[str, str] = field(default_factory=dict)
    analytics_endpoint_id: str | None = None
    encoded_data: str | None = None
    attribution: Attribution = field(default_factory=Attribution)
    honeypot_filled: bool = False
    captcha_token: str | None = None
    # The field the token came in (or would have), so an error names what the form sent.
    captcha_field: str = CAPTCHA_FIELD


@dataclass(frozen=True)
class ConfirmRequest:
    username: str
    code: str
    client_metadata: dict[str, str] = field(default_factory=dict)
    encoded_data: str | None = None
    sign_in_handle: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ResendRequest:
    username: str
    client_metadata: dict[str, str] = field(default_factory=dict)
    encoded_data: str | None = None
    honeypot_filled: bool = False


class _RequestSchema(Schema):
    class Meta:
        unknown = RAISE  # a misspelt field is an error a front-end developer wants to see

    error_messages = messages.SCHEMA_MESSAGES

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        # Clients see our words, never marshmallow's defaults (app/messages.py).
        messages.in_our_words(field_obj)

    lang = String(
        load_only=True,
        data_key=LANG_FIELD,
        validate=OneOf(LANGUAGES),
        metadata={
            "description": "The language of the answer's messages (and of the page a form gets "
            "back): one of en, de, fr, es. Optional; a lang query parameter wins over it, and "
            "without either, Accept-Language decides, then English. A landing page in one of "
            "these languages passes its own."
        },
    )

    encoded_data = String(
        validate=[
            Length(min=1, max=CONTEXT_DATA_MAX),
            Pattern(no_spaces, error=_l("Must not contain spaces.")),
            visible,
        ],
        load_only=True,
        metadata={
            "description": "The opaque string from Cognito's advanced-security script "
            "(AmazonCognitoAdvancedSecurityData.getData). Optional."
        },
    )
    client_metadata = string_map(
        128,
        ATTRIBUTE_VALUE_MAX,
        metadata={
            "description": "String pairs for the pool's Lambda triggers; keys must be in "
            "SIGNUP_CLIENT_METADATA_KEYS."
        },
    )


def honeypot_field() -> Raw:
    # Raw: whatever a bot puts here is accepted, so no error tells it the field is special.
    return Raw(
        load_only=True,
        data_key=HONEYPOT_FIELD,
        metadata={
            "not": {"type": "null"},  # anything but null, as Raw takes it
            "description": "A honeypot: leave it out or empty. Hide it from people (off-screen, "
            'tabindex="-1", autocomplete="off"); a value gets a success answer and does nothing.',
        },
    )


def is_filled(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def captcha_token_field(data_key: str) -> String:
    return String(
        load_only=True,
        data_key=data_key,
        validate=[
            Length(max=CAPTCHA_TOKEN_MAX),
            Pattern(r"^\S*$", error=_l("Must not contain spaces.")),
            visible,
        ],
        metadata={
            "description": "The captcha widget's token, when SIGNUP_CAPTCHA_PROVIDER is set. "
            f"JSON clients send {CAPTCHA_FIELD}; plain forms send the widget's own field."
        },
    )


# Where a loaded captcha token came from: schema attribute -> the field name the client sent.
_CAPTCHA_SOURCES = dict(
    zip(
        ("captcha_token", "turnstile_token", "hcaptcha_token", "recaptcha_token"),
        (CAPTCHA_FIELD, *CAPTCHA_WIDGET_FIELDS),
        strict=True,
    )
)


def captcha_from(data: dict[str, Any]) -> tuple[str | None, str]:
    """The token sent and the field it came in; the JSON field name when none was sent."""
    for attribute, field_name in _CAPTCHA_SOURCES.items():
        token = data.get(attribute)
        if token:
            return token, field_name
    return None, CAPTCHA_FIELD


# What a sign-in handle looks like (app/services/sign_in.py): 48 characters of base64url.
SIGN_IN_HANDLE = re.compile(r"^[A-Za-z0-9_-]{48}$")
SIGN_IN_HANDLE_PATTERN = {"pattern": SIGN_IN_HANDLE.pattern}

USERNAME_RULE = "1-128 letters, numbers, marks, symbols or punctuation: no spaces."

EMAIL_AS_USERNAME_RULE = _l(
    "Without a username, the email address is the username: use at most 128 characters, "
    "or send a username."
)

username_field = String(
    validate=[Length(min=1, max=128), username_characters],
    metadata={"description": f"Defaults to email. {USERNAME_RULE}"},
)


def passwordless() -> bool:
    """Whether this deployment signs people up without a password (SIGNUP_PASSWORDLESS)."""
    return has_app_context() and bool(current_app.config.get("SIGNUP_PASSWORDLESS"))


# The words any other missing required field gets.
REQUIRED_MESSAGE = messages.FIELD_MESSAGES["required"]
PASSWORDLESS_CONTACT_RULE = _l(
    "Give an email address or a phone number: without a password, sign-in codes go there."
)


class RegisterRequestSchema(AttributionFields, _RequestSchema):
    username = username_field
    # Required unless SIGNUP_PASSWORDLESS is on (checked in password_given).
    password = String(
        load_only=True,
        validate=[Length(min=1, max=256), password_characters],
        metadata={
            "description": "Up to 256 characters, no spaces or control characters; the pool's "
            "password policy applies on top. Required, unless the service signs people up "
            "without a password (SIGNUP_PASSWORDLESS): then leave it out, and give an email "
            "or a phone number. A password known from data breaches (the Pwned Passwords "
            "corpus, only a 5-character prefix of its SHA-1 is sent) is refused with "
            "`breached_password` (SIGNUP_RULE_BREACHED_PASSWORD).",
        },
    )
    # marshmallow's Email and Url let bidi overrides, zero-width and control characters through.
    email = Email(
        validate=[Length(max=254), visible],
        metadata={
            "description": "Sent to Cognito as typed. The deployment's email rules may refuse "
            "it, each with its own code: `email_domain_denied` (SIGNUP_EMAIL_DOMAINS_DENIED), "
            "`email_domain_not_allowed` (SIGNUP_EMAIL_DOMAINS_ALLOWED), `disposable_email`, "
            "`email_subaddress` (a +tag); see SIGNUP_RULE_*."
        },
    )
    phone_number = String(
        validate=Pattern(
            r"^\+[1-9][0-9]{1,14}$", error=_l("Use the international format, e.g. +14155550100.")
        ),
        metadata={"description": "E.164, e.g. +14155550100."},
    )
    name = text(ATTRIBUTE_VALUE_MAX)
    given_name = text(ATTRIBUTE_VALUE_MAX)
    family_name = text(ATTRIBUTE_VALUE_MAX)
    middle_name = text(ATTRIBUTE_VALUE_MAX)
    nickname = text(ATTRIBUTE_VALUE_MAX)
    preferred_username = String(validate=[Length(min=1, max=128), username_characters])
    gender = text(ATTRIBUTE_VALUE_MAX)
    # A real day in the calendar: JSON Schema's date format says so, the pattern says the form.
    birthdate = String(
        validate=[Pattern(ISO_DATE, error=_l("Use YYYY-MM-DD.")), real_date],
        metadata={"format": "date"},
    )
    locale = text(64)
    zoneinfo = text(64)
    website = Url(validate=[Length(max=ATTRIBUTE_VALUE_MAX), visible])
    picture = Url(validate=[Length(max=ATTRIBUTE_VALUE_MAX), visible])
    profile = Url(validate=[Length(max=ATTRIBUTE_VALUE_MAX), visible])
    attributes = string_map(
        ATTRIBUTE_NAME_MAX,
        ATTRIBUTE_VALUE_MAX,
        custom_attribute_name,
        metadata={
            "description": "custom: attributes allowed by SIGNUP_ALLOWED_CUSTOM_ATTRIBUTES, "
            'e.g. {"custom:plan": "pro"}.'
        },
    )
    validation_data = string_map(
        ATTRIBUTE_NAME_MAX,
        ATTRIBUTE_VALUE_MAX,
        metadata={"description": "String pairs for a pre-sign-up Lambda; not stored."},
    )
    analytics_endpoint_id = String(
        validate=[Length(min=1, max=CONTEXT_DATA_MAX), printable],
        metadata={"description": "Amazon Pinpoint endpoint id, sent as AnalyticsMetadata."},
    )
    honeypot = honeypot_field()
    captcha_token = captcha_token_field(CAPTCHA_FIELD)
    turnstile_token = captcha_token_field(CAPTCHA_WIDGET_FIELDS[0])
    hcaptcha_token = captcha_token_field(CAPTCHA_WIDGET_FIELDS[1])
    recaptcha_token = captcha_token_field(CAPTCHA_WIDGET_FIELDS[2])

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def identity_given(self, data: dict[str, Any], original: dict[str, Any], **kwargs: Any) -> None:
        if not original.get("username") and not original.get("email"):
            raise ValidationError(gettext("Give a username or an email address."), "username")
        if "username" not in original and "email" in data:
            # The address becomes Cognito's Username, whose limit (128) is below an address's.
            try:
                for rule in username_field.validators:
                    rule(data["email"])
            except ValidationError:
                raise ValidationError(str(EMAIL_AS_USERNAME_RULE), "email") from None

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def password_given(self, data: dict[str, Any], original: dict[str, Any], **kwargs: Any) -> None:
        if "password" in original:
            return
        if not passwordless():
            raise ValidationError(str(REQUIRED_MESSAGE), "password")
        if not original.get("email") and not original.get("phone_number"):
            raise ValidationError(str(PASSWORDLESS_CONTACT_RULE), "email")

    @post_load
    def make_request(self, data: dict[str, Any], **kwargs: Any) -> SignupRequest:
        attributes = {name: data[name] for name in STANDARD_ATTRIBUTES if name in data}
        attributes.update(data.get("attributes", {}))
        token, token_field = captcha_from(data)
        return SignupRequest(
            username=data.get("username") or data["email"],
            password=data.get("password"),
            attributes=attributes,
            validation_data=data.get("validation_data", {}),
            client_metadata=data.get("client_metadata", {}),
            analytics_endpoint_id=data.get("analytics_endpoint_id"),
            encoded_data=data.get("encoded_data"),
            attribution=Attribution.from_data(data),
            honeypot_filled=is_filled(data.get("honeypot")),
            captcha_token=token,
            captcha_field=token_field,
        )


class ConfirmRequestSchema(_RequestSchema):
    username = String(
        required=True,
        validate=username_field.validate,
        metadata={"description": USERNAME_RULE},
    )
    code = String(
        required=True,
        validate=[
            Length(min=1, max=2048),
            Pattern(no_spaces, error=_l("Must not contain spaces.")),
            visible,
        ],
        metadata={"description": "The code Cognito sent by email or SMS."},
    )
    sign_in_handle = String(
        load_only=True,
        validate=Pattern(SIGN_IN_HANDLE, error=_l("This is not a sign-in handle.")),
        metadata={
            "description": "API clients: the `sign_in_handle` their /register answer gave. "
            "With it the confirmation also signs the person in; without it, or when it no "
            "longer can, the account is confirmed and `signed_in` is false. Browsers send "
            "nothing: their handle travels in an HttpOnly cookie."
        },
    )

    @post_load
    def make_request(self, data: dict[str, Any], **kwargs: Any) -> ConfirmRequest:
        data.pop("lang", None)  # chose the answer's language already (app/api/i18n.py)
        return ConfirmRequest(**data)


class ResendRequestSchema(_RequestSchema):
    username = String(
        required=True,
        validate=username_field.validate,
        metadata={"description": USERNAME_RULE},
    )
    honeypot = honeypot_field()

    @post_load
    def make_request(self, data: dict[str, Any], **kwargs: Any) -> ResendRequest:
        honeypot = data.pop("honeypot", None)
        data.pop("lang", None)  # chose the answer's language already (app/api/i18n.py)
        return ResendRequest(**data, honeypot_filled=is_filled(honeypot))


class CodeDeliverySchema(Schema):
    destination = fields.String(metadata={"description": "Masked, e.g. j***@e***."})
    medium = fields.String(metadata={"description": "EMAIL or SMS."})
    attribute = fields.String(metadata={"description": "The attribute the code went to."})


class RegisterResponseSchema(Schema):
    user_confirmed = fields.Boolean(required=True)
    code_delivery = fields.Nested(CodeDeliverySchema, allow_none=True)
    sign_in_handle = fields.String(
        metadata={
            "description": "API clients only (browsers get it as an HttpOnly cookie): send it "
            "back with /register/confirm to be signed in. Opaque; keep it as a secret. Absent "
            "when the service does not sign people in (SIGNUP_SIGN_IN=false), and from an "
            "answer replayed for an Idempotency-Key.",
            **SIGN_IN_HANDLE_PATTERN,
        }
    )


class TokensSchema(Schema):
    """Cognito's AuthenticationResult, in OAuth 2.0's names."""

    access_token = fields.String(required=True)
    id_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    expires_in = fields.Integer(
        required=True, metadata={"description": "Seconds the access and id tokens are valid."}
    )
    token_type = fields.String(required=True, metadata={"description": "Bearer."})


class ConfirmResponseSchema(Schema):
    confirmed = fields.Boolean(required=True)
    signed_in = fields.Boolean(
        required=True,
        metadata={"description": "Whether the confirmation also signed the person in."},
    )
    tokens = fields.Nested(
        TokensSchema,
        metadata={
            "description": "API clients, when signed in. Browsers get the tokens only as "
            "HttpOnly cookies (see the answer's Set-Cookie), never in a body."
        },
    )
    sign_in_url = fields.String(
        metadata={
            "description": "When not signed in: where the person signs in "
            "(SIGNUP_SIGN_IN_URL), if configured."
        }
    )
    signed_in_url = fields.String(
        metadata={
            "description": "Browsers, when signed in: where to go next (SIGNUP_SIGNED_IN_URL), "
            "if configured."
        }
    )


class ResendResponseSchema(Schema):
    code_delivery = fields.Nested(CodeDeliverySchema, allow_none=True)


class ErrorSchema(Schema):
    """The one shape of every error answer."""

    status = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"description": "Stable, machine-readable."})
    message = fields.String(required=True, metadata={"description": "Safe to show a person."})
    field_errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        data_key="fields",
        metadata={"description": "Messages per request field; {} when no field is at fault."},
    )
