"""The OpenAPI document: valid, complete, and true to what the service really answers."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import jsonschema_rs
import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from marshmallow import ValidationError, fields, validate
from openapi_schema_validator import oas31_format_checker
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_spec
from openapi_spec_validator.validation.keywords import OpenAPIV31SchemaValidator
from werkzeug.test import TestResponse

from app import create_app
from app.api.openapi import EMAIL_PATTERN, url_pattern
from app.schemas import (
    Characters,
    ConfirmRequestSchema,
    RegisterRequestSchema,
    ResendRequestSchema,
    printable,
)
from tests.conftest import GENEROUS_LIMITS, signup_body
from tests.support.cognito_double import CognitoDouble
from tests.support.servers import free_port

# Routes that serve the document itself or static files rather than an API answer.
NOT_IN_THE_DOCUMENT = {"static", "docs_assets.static", "api-docs.openapi_json"}
NOT_IN_THE_DOCUMENT |= {"api-docs.openapi_swagger_ui", "docs_slash"}


@pytest.fixture
def settings(settings: dict[str, str]) -> dict[str, str]:
    """Every documented answer must be producible: existing accounts are not hidden here."""
    return {**settings, "SIGNUP_HIDE_EXISTING_USERS": "false", **GENEROUS_LIMITS}


@pytest.fixture
def spec(client: FlaskClient) -> dict:
    return client.get("/openapi.json").json


def is_ecma_regex(pattern: object) -> bool:
    """JSON Schema's regex format is ECMA-262; Python's ``re`` knows no ``\\p{L}``."""
    if isinstance(pattern, str):
        jsonschema_rs.validator_for({"pattern": pattern})
    return True


ECMA_FORMATS = FormatChecker()
ECMA_FORMATS.checkers = dict(oas31_format_checker.checkers)
ECMA_FORMATS.checks("regex", raises=jsonschema_rs.ValidationError)(is_ecma_regex)


class EcmaSchemaValidator(OpenAPIV31SchemaValidator):
    schema_validator_format_checker = ECMA_FORMATS


class EcmaSpecValidator(OpenAPIV31SpecValidator):
    keyword_validators: ClassVar = {
        **OpenAPIV31SpecValidator.keyword_validators,
        "schema": EcmaSchemaValidator,
    }


def test_the_document_is_valid_openapi(spec):
    validate_spec(spec, cls=EcmaSpecValidator)


def test_every_route_is_documented(app: Flask, spec):
    routes = {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in NOT_IN_THE_DOCUMENT
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}

    assert routes == documented


REQUEST_SCHEMAS = [
    ("RegisterRequest", RegisterRequestSchema),
    ("ConfirmRequest", ConfirmRequestSchema),
    ("ResendRequest", ResendRequestSchema),
]


def expected_limits(field: fields.Field) -> dict[str, object]:
    """What the document must say about a field, read from its validators."""
    is_map = isinstance(field, fields.Dict)
    limits: dict[str, object] = {}
    for rule in field.validators:
        if isinstance(rule, validate.Length):
            low, high = ("minProperties", "maxProperties") if is_map else ("minLength", "maxLength")
            limits.update(
                {key: value for key, value in ((low, rule.min), (high, rule.max)) if value}
            )
    # A pattern of its own first, then the character rule; a second one goes under allOf.
    rules = field.validators
    patterns = [rule.regex.pattern for rule in rules if isinstance(rule, validate.Regexp)]
    patterns += [url_pattern(rule) for rule in rules if isinstance(rule, validate.URL)]
    patterns += [EMAIL_PATTERN for rule in rules if isinstance(rule, validate.Email)]
    patterns += [rule.pattern for rule in rules if isinstance(rule, Characters)]
    if patterns:
        limits["pattern"] = patterns[0]
    if len(patterns) > 1:
        limits["allOf"] = [{"pattern": pattern} for pattern in patterns[1:]]
    return limits


@pytest.mark.parametrize(("name", "schema"), REQUEST_SCHEMAS)
def test_every_request_field_is_documented_with_its_limits(spec, name, schema):
    documented = spec["components"]["schemas"][name]["properties"]

    for field_name, field in schema().fields.items():
        properties = documented[field.data_key or field_name]
        for keyword, value in expected_limits(field).items():
            assert properties.get(keyword) == value, f"{name}.{field_name} {keyword}"


def test_map_keys_are_documented_with_their_limits(spec):
    attributes = spec["components"]["schemas"]["RegisterRequest"]["properties"]["attributes"]

    assert attributes["propertyNames"] == {
        "minLength": 1,
        "maxLength": 32,
        "pattern": "^custom:",
        "allOf": [{"pattern": printable.pattern}],
    }
    assert attributes["additionalProperties"]["maxLength"] == 2048


# Characters that have split the document from the service: spaces of every kind, controls,
# format characters (zero-width, bidi, BOM), line separators, marks, symbols, astral letters.
# Lone surrogates are not here: no JSON validator takes them, and no \p class in a documented
# pattern admits them (they are category Cs).
SAMPLES = [
    "ada", "Ada_Lovelace-1815", "é", "e\u0301", "ß", "İ", "日本", "😀", "\U0001d538", "\u0660",
    "+@.!", "a b", "a\u00a0b", "a\u3000b", "a\tb", "a\nb", "a\x00", "a\x7f", "a\x85", "a\u200b",
    "a\u200d", "a\u202e", "a\u2066", "\ufeffa", "a\u2028", "a\u2029", "a\U000e0001", "\ue000",
    "https://example.com", "HTTP://Example.COM:8080/a?b#c", "ftp://u:p@10.0.0.1/", "http://localhost",
    "https://[::1]/", "https://exa mple.com", "https://example", "gopher://example.com",
    "ada@example.com", "0@0.a", "a.b+c@bücher.example", '"a b"@example.com', "a@localhost",
    "a@[10.0.0.256]", "a@[10.0.0.255]", "a..b@example.com", "a@-example.com", "a@b@example.com",
    "/", "/spring?ref=x#top", "//evil.example", "https://example.com/p?q", "HTTPS://a:b@h:1/",
    "http://", "http://:80/", "https://[/", "https://[zz]/", "javascript:alert(1)", "/a%20b",
    "/a b", "https://example.com" * 30,
    "https://xn--bcher-kva.example/", "https://bücher.example/ä", "//example.com", "https://a.b.c\u200b",
]  # fmt: skip


# Where the document is knowingly stricter: it leaves IPv6 hosts out of landing_page.
STRICTER = {("landing_page", "https://[::1]/")}


def documented_property(spec: dict, schema: str, name: str) -> jsonschema_rs.Validator:
    properties = spec["components"]["schemas"][schema]["properties"]
    return jsonschema_rs.validator_for(properties[name], validate_formats=True)


@pytest.mark.parametrize(("name", "schema"), REQUEST_SCHEMAS)
def test_documented_patterns_accept_exactly_what_the_fields_accept(spec, name, schema):
    for field_name, field in schema().fields.items():
        if not isinstance(field, fields.String):
            continue
        documented = documented_property(spec, name, field.data_key or field_name)
        for sample in SAMPLES:
            try:
                field.deserialize(sample)
                accepted = True
            except ValidationError:
                accepted = False
            if (field_name, sample) in STRICTER:
                assert accepted
                assert not documented.is_valid(sample)
                continue
            assert documented.is_valid(sample) == accepted, f"{name}.{field_name} {sample!r}"


LONG_EMAIL = "a" * 60 + "@" + "b" * 60 + ".example.com"


def body_validator(spec: dict, name: str) -> jsonschema_rs.Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema_rs.validator_for(schema, validate_formats=True)


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"email": "ada@example.com", "password": "Correct-h0rse"}, True),
        ({"username": "ada", "password": "Correct-h0rse"}, True),
        ({"password": "Correct-h0rse"}, False),  # neither username nor email
        ({"email": "ada@example.com"}, False),  # no password
        ({"email": LONG_EMAIL, "password": "Correct-h0rse"}, False),  # too long for a username
        ({"username": "ada", "email": LONG_EMAIL, "password": "Correct-h0rse"}, True),
    ],
)
def test_the_document_says_what_a_sign_up_needs(spec, body, valid):
    assert body_validator(spec, "RegisterRequest").is_valid(body) == valid


def test_a_passwordless_deployment_documents_a_contact_instead_of_a_password(make_app):
    spec = make_app(SIGNUP_PASSWORDLESS="true").test_client().get("/openapi.json").json
    register = body_validator(spec, "RegisterRequest")

    assert register.is_valid({"email": "ada@example.com"})
    assert register.is_valid({"username": "ada", "phone_number": "+14155550100"})
    assert not register.is_valid({"username": "ada"})


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"email": "ada@example.com", "password": "P", "given_name": "", "redirect_to": ""}, True),
        ({"username": "", "email": "ada@example.com", "password": "P"}, True),
        ({"username": "", "email": "", "password": "P"}, False),  # blank is not given
        ({"email": "ada@example.com", "password": ""}, False),
        ({"email": "ada@example.com", "password": "P", "redirect_to": "/welcome"}, True),
        ({"email": "ada@example.com", "password": "P", "redirect_to": "//evil.example"}, False),
        ({"email": "ada@example.com", "password": "P", "redirect_to": "https://x.example"}, False),
    ],
)
def test_forms_may_leave_optional_fields_blank(spec, body, valid):
    assert body_validator(spec, "RegisterRequestForm").is_valid(body) == valid


def test_a_form_leaves_no_required_field_blank(spec):
    confirm = body_validator(spec, "ConfirmRequestForm")

    assert confirm.is_valid({"username": "ada", "code": "123456", "sign_in_handle": ""})
    assert not confirm.is_valid({"username": "ada", "code": ""})


@pytest.mark.parametrize("path", ["/register", "/register/confirm", "/register/resend"])
def test_bodies_are_documented_as_json_and_as_a_form(spec, path):
    content = spec["paths"][path]["post"]["requestBody"]["content"]
    json_schema = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    form_schema = content["application/x-www-form-urlencoded"]["schema"]["$ref"].rsplit("/", 1)[1]
    schemas = spec["components"]["schemas"]

    assert "redirect_to" not in schemas[json_schema]["properties"]
    assert set(schemas[form_schema]["properties"]) == {
        *schemas[json_schema]["properties"],
        "redirect_to",
    }


def test_form_maps_are_documented_as_bracketed_keys(spec):
    form = spec["paths"]["/register"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"
    ]

    assert form["encoding"]["attributes"] == {"style": "deepObject", "explode": True}


def test_the_sign_in_after_confirming_is_documented(spec):
    schemas = spec["components"]["schemas"]
    assert "sign_in_handle" in schemas["RegisterResponse"]["properties"]
    assert "sign_in_handle" in schemas["ConfirmRequest"]["properties"]
    answer = schemas["ConfirmResponse"]
    assert {"confirmed", "signed_in"} <= set(answer["required"])
    assert {"tokens", "sign_in_url", "signed_in_url"} <= set(answer["properties"])
    assert set(schemas["Tokens"]["required"]) == {
        "access_token", "id_token", "refresh_token", "expires_in", "token_type"
    }  # fmt: skip
    confirm = spec["paths"]["/register/confirm"]["post"]
    assert {"in": "cookie", "name": "__Host-signup-handle"}.items() <= next(
        parameter for parameter in confirm["parameters"] if parameter["in"] == "cookie"
    ).items()
    assert "Set-Cookie" in confirm["responses"]["200"]["headers"]
    assert "Set-Cookie" in spec["paths"]["/register"]["post"]["responses"]["201"]["headers"]
    examples = confirm["responses"]["422"]["content"]["application/json"]["examples"]
    assert "invalid_sign_in_handle" in examples


def test_the_docs_page_loads_everything_from_this_service(client):
    page = client.get("/docs").get_data(as_text=True)
    links = re.findall(r'(?:src|href)="([^"]+)"', page)

    assert "/docs/assets/swagger-ui-bundle.js" in links
    for link in links:
        assert re.match(r"^/[^/]", link), f"{link} is not on this service"
        answer = client.get(link)
        assert answer.status_code == 200, link
        answer.close()


def test_docs_with_a_trailing_slash_leads_to_the_docs_page(client):
    response = client.get("/docs/", follow_redirects=True)

    assert response.status_code == 200
    assert response.request.path == "/docs"
    assert "swagger-ui-bundle.js" in response.get_data(as_text=True)


# Real answers, checked against the document


@dataclass
class Context:
    client: FlaskClient
    cognito: CognitoDouble
    settings: dict[str, str]
    monkeypatch: pytest.MonkeyPatch

    def app(self, **overrides: str) -> FlaskClient:
        return create_app({**self.settings, **overrides}).test_client()

    def registered(self, username: str = "ada@example.com") -> str:
        self.client.post("/register", json=signup_body(email=username))
        return username


def form(client: FlaskClient, path: str, data: dict[str, str]) -> TestResponse:
    return client.post(path, data=data, headers={"Accept": "text/html"})


def register_scripted(error: str) -> Callable[[Context], TestResponse]:
    def run(ctx: Context) -> TestResponse:
        ctx.cognito.fail_next("SignUp", error)
        return ctx.client.post("/register", json=signup_body())

    return run


def limited(path: str, body: dict[str, object], **limits: str) -> Callable[[Context], TestResponse]:
    """The second of two requests against an app whose ``limits`` allow one."""

    def run(ctx: Context) -> TestResponse:
        client = ctx.app(**limits)
        client.post(path, json=body)
        return client.post(path, json=body)

    return run


def rate_limit_storage_down(ctx: Context) -> TestResponse:
    storage = f"redis://127.0.0.1:{free_port()}"
    return ctx.app(RATELIMIT_STORAGE_URI=storage).post(REGISTER, json=signup_body())


def captcha(token: str | None) -> Callable[[Context], TestResponse]:
    """A sign-up with captcha on and the provider down: no token is a 422, a token a 503."""

    def run(ctx: Context) -> TestResponse:
        client = ctx.app(
            SIGNUP_CAPTCHA_PROVIDER="turnstile",
            SIGNUP_CAPTCHA_SECRET="captcha-secret",
            SIGNUP_CAPTCHA_VERIFY_URL=f"http://127.0.0.1:{free_port()}/siteverify",
            SIGNUP_CAPTCHA_TIMEOUT_SECONDS="0.5",
        )
        return client.post(REGISTER, json=signup_body(captcha_token=token))

    return run


def ruled(body: dict[str, object], **rules: str) -> Callable[[Context], TestResponse]:
    """A sign-up under these rule settings (SIGNUP_RULE_*, the domain lists, the range API)."""
    return lambda ctx: ctx.app(**rules).post(REGISTER, json=body)


def unreachable(ctx: Context) -> TestResponse:
    ctx.monkeypatch.setenv(
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", f"http://127.0.0.1:{free_port()}"
    )
    return ctx.app().post("/register", json=signup_body())


def timed_out(path: str, body: dict[str, object]) -> Callable[[Context], TestResponse]:
    def run(ctx: Context) -> TestResponse:
        ctx.cognito.delay_seconds = 1
        return ctx.app(COGNITO_TIMEOUT_SECONDS="0.2").post(path, json=body)

    return run


def not_configured(ctx: Context) -> TestResponse:
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET"):
        ctx.monkeypatch.delenv(name)
    return create_app().test_client().post("/register", json=signup_body())


def confirmed_twice(ctx: Context) -> TestResponse:
    username = ctx.registered()
    code = ctx.cognito.code_for(username)
    ctx.client.post("/register/confirm", json={"username": username, "code": code})
    return ctx.client.post("/register/confirm", json={"username": username, "code": code})


def resent_when_confirmed(ctx: Context) -> TestResponse:
    confirmed_twice(ctx)
    return ctx.client.post("/register/resend", json={"username": "ada@example.com"})


def confirm_scripted(error: str) -> Callable[[Context], TestResponse]:
    def run(ctx: Context) -> TestResponse:
        username = ctx.registered()
        ctx.cognito.fail_next("ConfirmSignUp", error)
        return ctx.client.post("/register/confirm", json={"username": username, "code": "1"})

    return run


def resend_scripted(error: str) -> Callable[[Context], TestResponse]:
    def run(ctx: Context) -> TestResponse:
        ctx.cognito.fail_next("ResendConfirmationCode", error)
        return ctx.client.post("/register/resend", json={"username": ctx.registered()})

    return run


def database_down(path: str, body: dict[str, object]) -> Callable[[Context], TestResponse]:
    """With an Idempotency-Key, so resend too needs the database before Cognito."""

    def run(ctx: Context) -> TestResponse:
        client = ctx.app(DATABASE_URL="sqlite:////nonexistent-folder/signups.db")
        return client.post(path, json=body, headers={"Idempotency-Key": "k-down"})

    return run


def key_reused(path: str, first: dict, second: dict) -> Callable[[Context], TestResponse]:
    def run(ctx: Context) -> TestResponse:
        ctx.client.post(path, json=first, headers={"Idempotency-Key": "k-reused"})
        return ctx.client.post(path, json=second, headers={"Idempotency-Key": "k-reused"})

    return run


def key_in_progress(ctx: Context) -> TestResponse:
    """The same request under one key while the first still waits on Cognito."""
    client = ctx.app(SIGNUP_IDEMPOTENCY_WAIT_SECONDS="0.2")
    ctx.cognito.delay_seconds = 1.0
    headers = {"Idempotency-Key": "k-busy"}
    first = threading.Thread(
        target=lambda: client.post(REGISTER, json=signup_body(), headers=headers)
    )
    first.start()
    while not ctx.cognito.calls("SignUp"):
        time.sleep(0.01)
    duplicate = client.post(REGISTER, json=signup_body(), headers=headers)
    first.join()
    return duplicate


Scenario = tuple[str, str, int, Callable[[Context], TestResponse]]
REGISTER, CONFIRM, RESEND = "/register", "/register/confirm", "/register/resend"


def get(path: str, status: int = 200) -> Scenario:
    return ("get", path, status, lambda ctx: ctx.client.get(path))


def post(path: str, status: int, **request: object) -> Scenario:
    """A POST of ``request`` (test client keywords) expected to answer ``status``."""
    return ("post", path, status, lambda ctx: ctx.client.post(path, **request))


def posted(path: str, status: int, scenario: Callable[[Context], TestResponse]) -> Scenario:
    return ("post", path, status, scenario)


def confirmation(ctx: Context, **extra: str) -> dict[str, str]:
    username = ctx.registered()
    return {"username": username, "code": ctx.cognito.code_for(username), **extra}


def signed_in(ctx: Context) -> TestResponse:
    """An app's confirmation with its sign-up's handle: the tokens in the body."""
    registered = ctx.client.post("/register", json=signup_body())
    handle = registered.json["sign_in_handle"]
    code = ctx.cognito.code_for("ada@example.com")
    body = {"username": "ada@example.com", "code": code, "sign_in_handle": handle}
    response = ctx.client.post(CONFIRM, json=body)
    assert response.json["signed_in"] is True
    return response


SCENARIOS: list[Scenario] = [
    get("/"),
    get("/healthz"),
    get("/readyz"),
    (
        "get",
        "/readyz",
        503,
        lambda ctx: ctx.app(COGNITO_USER_POOL_ID="us-east-1_No").get("/readyz"),
    ),
    get("/metrics"),
    post(REGISTER, 201, json=signup_body()),
    posted(REGISTER, 201, lambda ctx: form(ctx.client, REGISTER, signup_body())),
    posted(REGISTER, 303, lambda ctx: form(ctx.client, REGISTER, signup_body(redirect_to="/x"))),
    post(REGISTER, 400, data="{", content_type="application/json"),
    posted(REGISTER, 403, register_scripted("ForbiddenException")),
    posted(REGISTER, 409, register_scripted("UsernameExistsException")),
    post(REGISTER, 413, json={"password": "x" * 70_000}),
    post(REGISTER, 415, data="hi", content_type="text/plain"),
    post(REGISTER, 422, json={"email": "no"}),
    posted(REGISTER, 422, lambda ctx: form(ctx.client, REGISTER, signup_body(email="no"))),
    posted(REGISTER, 422, register_scripted("UserLambdaValidationException")),
    posted(REGISTER, 429, limited(REGISTER, signup_body(), SIGNUP_RATE_LIMIT_PER_IP="1/day")),
    posted(REGISTER, 503, limited(REGISTER, signup_body(), SIGNUP_RATE_LIMIT_GLOBAL="1/day")),
    posted(REGISTER, 503, rate_limit_storage_down),
    posted(REGISTER, 422, captcha(None)),
    posted(REGISTER, 503, captcha("token")),
    posted(REGISTER, 422, ruled(signup_body(password="Password1!"))),
    posted(
        REGISTER,
        503,
        ruled(
            signup_body(),
            SIGNUP_BREACHED_PASSWORD_URL=f"http://127.0.0.1:{free_port()}/range/",
            SIGNUP_BREACHED_PASSWORD_ON_OUTAGE="closed",
        ),
    ),
    posted(
        REGISTER,
        422,
        ruled(signup_body(email="a@mailinator.com"), SIGNUP_RULE_DISPOSABLE_EMAIL="enforce"),
    ),
    posted(REGISTER, 422, ruled(signup_body(), SIGNUP_EMAIL_DOMAINS_DENIED="example.com")),
    posted(REGISTER, 422, ruled(signup_body(), SIGNUP_EMAIL_DOMAINS_ALLOWED="corp.example")),
    posted(
        REGISTER,
        422,
        ruled(signup_body(email="a+b@example.com"), SIGNUP_RULE_EMAIL_SUBADDRESS="enforce"),
    ),
    posted(REGISTER, 502, register_scripted("InternalErrorException")),
    posted(REGISTER, 502, register_scripted("CodeDeliveryFailureException")),
    posted(REGISTER, 503, register_scripted("TooManyRequestsException")),
    posted(REGISTER, 503, register_scripted("LimitExceededException")),
    posted(REGISTER, 503, unreachable),
    posted(REGISTER, 503, not_configured),
    posted(REGISTER, 503, database_down(REGISTER, signup_body())),
    posted(REGISTER, 422, key_reused(REGISTER, signup_body(), signup_body(password="Other-h0rse"))),
    posted(REGISTER, 409, key_in_progress),
    posted(REGISTER, 504, timed_out(REGISTER, signup_body())),
    posted(CONFIRM, 200, lambda ctx: ctx.client.post(CONFIRM, json=confirmation(ctx))),
    posted(CONFIRM, 200, signed_in),
    posted(
        CONFIRM,
        422,
        lambda ctx: ctx.client.post(CONFIRM, json=confirmation(ctx, sign_in_handle="A" * 48)),
    ),
    posted(CONFIRM, 200, lambda ctx: form(ctx.client, CONFIRM, confirmation(ctx))),
    posted(CONFIRM, 303, lambda ctx: form(ctx.client, CONFIRM, confirmation(ctx, redirect_to="/"))),
    post(CONFIRM, 400, data="[", content_type="application/json"),
    posted(CONFIRM, 403, confirm_scripted("ForbiddenException")),
    post(CONFIRM, 404, json={"username": "x", "code": "1"}),
    posted(CONFIRM, 409, confirmed_twice),
    posted(CONFIRM, 409, confirm_scripted("AliasExistsException")),
    post(CONFIRM, 413, json={"code": "1" * 70_000}),
    posted(CONFIRM, 413, lambda ctx: form(ctx.client, CONFIRM, {"code": "1" * 70_000})),
    post(CONFIRM, 415, data="x", content_type="text/csv"),
    posted(CONFIRM, 422, lambda ctx: ctx.client.post(CONFIRM, json=confirmation(ctx, code="0x"))),
    posted(CONFIRM, 422, confirm_scripted("ExpiredCodeException")),
    posted(CONFIRM, 429, confirm_scripted("TooManyFailedAttemptsException")),
    posted(CONFIRM, 502, confirm_scripted("InternalErrorException")),
    posted(CONFIRM, 503, confirm_scripted("TooManyRequestsException")),
    posted(CONFIRM, 504, timed_out(CONFIRM, {"username": "a", "code": "1"})),
    posted(RESEND, 200, lambda ctx: ctx.client.post(RESEND, json={"username": ctx.registered()})),
    posted(RESEND, 200, lambda ctx: form(ctx.client, RESEND, {"username": ctx.registered()})),
    posted(
        RESEND,
        303,
        lambda ctx: form(ctx.client, RESEND, {"username": ctx.registered(), "redirect_to": "/"}),
    ),
    post(RESEND, 400, data="1", content_type="application/json"),
    posted(RESEND, 403, resend_scripted("ForbiddenException")),
    post(RESEND, 404, json={"username": "nobody"}),
    posted(RESEND, 409, resent_when_confirmed),
    post(RESEND, 413, json={"username": "u" * 70_000}),
    post(RESEND, 415, data="x", content_type="text/xml"),
    post(RESEND, 422, json={"username": "has space"}),
    posted(RESEND, 429, limited(RESEND, {"username": "ada"}, SIGNUP_RATE_LIMIT_PER_IP="1/day")),
    posted(RESEND, 502, resend_scripted("CodeDeliveryFailureException")),
    posted(RESEND, 503, resend_scripted("LimitExceededException")),
    posted(RESEND, 503, database_down(RESEND, {"username": "ada"})),
    posted(RESEND, 422, key_reused(RESEND, {"username": "ada"}, {"username": "grace"})),
    posted(RESEND, 504, timed_out(RESEND, {"username": "ada"})),
]


def documented_answer(spec: dict, method: str, path: str, status: int) -> dict:
    responses = spec["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answers {status}, undocumented"
    answer = responses[str(status)]
    if "$ref" in answer:
        answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    return answer


def check_against(spec: dict, answer: dict, response: TestResponse) -> None:
    content = answer.get("content", {})
    if not content:
        assert not response.get_data(), "an answer documented without a body has one"
        return
    assert response.mimetype in content, f"{response.mimetype} is not documented"
    media = content[response.mimetype]
    if response.mimetype != "application/json":
        return
    Draft202012Validator({**media["schema"], "components": spec["components"]}).validate(
        response.json
    )
    if "examples" in media:  # error answers: the code must be one the document lists
        assert response.json["code"] in media["examples"]


@pytest.mark.parametrize(
    ("method", "path", "status", "scenario"),
    SCENARIOS,
    ids=[f"{method} {path} {status}-{i}" for i, (method, path, status, _) in enumerate(SCENARIOS)],
)
def test_real_answers_match_the_document(
    spec, client, cognito, settings, monkeypatch, method, path, status, scenario
):
    response = scenario(Context(client, cognito, settings, monkeypatch))

    assert response.status_code == status
    check_against(spec, documented_answer(spec, method, path, status), response)


def test_every_documented_answer_is_exercised_above(spec):
    documented = {
        (method, path, int(status))
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        for status in operation["responses"]
        if status != "default"
    }
    exercised = {(method, path, status) for method, path, status, _ in SCENARIOS}

    assert documented == exercised
