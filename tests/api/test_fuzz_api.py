"""Schemathesis against the service's own OpenAPI document, in-process, wired to the strict double.

Every operation gets schemathesis' coverage cases (boundary and just-past-boundary values of every
documented limit, wrong types, missing fields, other methods and media types) and a bounded
number of random positive and negative cases, as JSON and as forms. The properties: no 5xx, every
answer as documented (status, content type, schema, headers: so every error in the one error
shape), what the document calls invalid refused, what it calls valid accepted or refused only for a
reason no schema can know (see POSITIVE_REFUSALS), and nothing that breaks one of Cognito's limits
(docs/cognito.md) ever reaches the strict double.

The schema is loaded at import from an app without a user pool (the document does not depend on
one); cases are sent to an app wired to the double. Schemathesis' fixture-based loader does not
run on this pytest, hence not ``schemathesis.pytest.from_fixture``.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from app.storage.db import db
from tests.conftest import GENEROUS_LIMITS, in_ci

# Random cases per operation on top of the coverage cases; the whole module takes ~2 min.
MAX_EXAMPLES = 100
# Every check about the document and the service agreeing.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
ERROR_SHAPE = {"status", "code", "message", "fields"}

# A request the document calls valid may still be refused, for reasons no schema can say, each
# documented on the operation: an unknown user (404), a username taken or an account confirmed
# already (409), a body over SIGNUP_MAX_BODY_BYTES though every field is within its limit (413:
# encoded_data alone may be 128 Ki characters), a wrong confirmation code or a rule of the
# deployment (422, narrowed by POSITIVE_REFUSALS below), a rate limit (429).
POSITIVE_STATUSES = ["2xx", "3xx", "404", "409", "413", "422", "429"]
# What the document calls invalid is refused as such: 400, 413 or 422, never a success.
NEGATIVE_STATUSES = ["400", "404", "409", "413", "415", "422", "429"]
# The 422s a valid request may get: the user pool's own (the request reached Cognito, which
# refused it: its password policy, its stricter reading of an email address), business refusals
# by code, or invalid_fields on a field whose rule is the deployment's (the allowlists of custom
# attributes, metadata keys and redirect origins), never on a field whose rule the document states.
POSITIVE_REFUSALS = {
    "code_mismatch",
    "code_expired",
    "signup_rejected",
    "breached_password",
    "disposable_email",
    "email_domain_denied",
    "email_domain_not_allowed",
    "email_subaddress",
    "captcha_failed",
    "idempotency_key_reused",
    "invalid_sign_in_handle",  # well-formed, but not one this service issued
}
DEPLOYMENT_FIELDS = ("password", "attributes", "client_metadata", "redirect_to")


def _document() -> dict:
    app = create_app({"DATABASE_URL": "sqlite://", "LOG_LEVEL": "WARNING"})
    try:
        return app.test_client().get("/openapi.json").json
    finally:
        with app.app_context():
            db.engine.dispose()


schema = schemathesis.openapi.from_dict(
    _document(),
    config=SchemathesisConfig.from_dict(
        {
            "checks": {
                "positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES},
                "negative_data_rejection": {"expected-statuses": NEGATIVE_STATUSES},
            }
        }
    ),
)


def is_positive(case: schemathesis.Case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


def newer_unicode(value: Any) -> bool:
    """Whether ``value`` holds a character the service's Unicode database (Python's) does not
    know yet: the document's \\p classes are read with a newer one, so such a character matches
    them and is refused (docs/api.md)."""
    if isinstance(value, str):
        return any(unicodedata.category(char) == "Cn" for char in value)
    if isinstance(value, dict):
        return any(newer_unicode(key) or newer_unicode(item) for key, item in value.items())
    if isinstance(value, list):
        return any(newer_unicode(item) for item in value)
    return False


def refused_for_the_deployment(case: schemathesis.Case, answer: dict) -> bool:
    """A 422 that no schema could have foreseen (see POSITIVE_REFUSALS)."""
    if answer["code"] in POSITIVE_REFUSALS or newer_unicode(case.body):
        return True
    named = {name.partition(".")[0] for name in answer["fields"]}
    return answer["code"] == "invalid_fields" and bool(named) and named <= set(DEPLOYMENT_FIELDS)


@pytest.fixture
def fuzzed_app(make_app):
    return make_app(
        **GENEROUS_LIMITS,
        SIGNUP_ALLOWED_CUSTOM_ATTRIBUTES="custom:plan",
        SIGNUP_CLIENT_METADATA_KEYS="source",
        # Every request is logged at INFO: thousands of lines nobody reads.
        LOG_LEVEL="WARNING",
    )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis folder in the repository
    derandomize=in_ci(),  # CI replays the same cases; local runs keep exploring
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_5xx_documented_answers_and_nothing_out_of_limits_reaches_cognito(
    case, fuzzed_app, cognito
):
    calls_before = len(cognito.received)
    response = case.call_and_validate(app=fuzzed_app, checks=CHECKS)
    refused_by_the_pool = len(cognito.received) > calls_before

    if response.status_code >= 400:
        assert set(response.json()) == ERROR_SHAPE
    if response.status_code == 422 and is_positive(case) and not refused_by_the_pool:
        assert refused_for_the_deployment(case, response.json()), case.as_curl_command()
    assert cognito.violations == []
