"""Schemathesis against the service's own OpenAPI document, in-process, wired to the strict double.

Every operation gets schemathesis' coverage cases (boundary and just-past-boundary values of every
documented limit, wrong types, missing fields, other methods and media types) and a bounded
number of random positive and negative cases, as JSON and as forms. The properties: no 5xx, every
answer as documented (status, content type, schema: so every error in the one error shape), and
nothing that breaks one of Cognito's limits (docs/cognito.md) ever reaches the strict double.

The schema is loaded at import from an app without a user pool (the document does not depend on
one); cases are sent to an app wired to the double. Schemathesis' fixture-based loader does not
run on this pytest, hence not ``schemathesis.pytest.from_fixture``.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from app.storage.db import db
from tests.conftest import GENEROUS_LIMITS, in_ci

# Random cases per operation on top of the coverage cases; the whole module takes ~15 s.
MAX_EXAMPLES = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ERROR_SHAPE = {"status", "code", "message", "fields"}


def _document() -> dict:
    app = create_app({"DATABASE_URL": "sqlite://", "LOG_LEVEL": "WARNING"})
    try:
        return app.test_client().get("/openapi.json").json
    finally:
        with app.app_context():
            db.engine.dispose()


schema = schemathesis.openapi.from_dict(_document())


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
    response = case.call_and_validate(app=fuzzed_app, checks=CHECKS)

    if response.status_code >= 400:
        assert set(response.json()) == ERROR_SHAPE
    assert cognito.violations == []
