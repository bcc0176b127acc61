"""Prometheus metrics: what they count, how requests feed them, and the text ``/metrics`` serves.

Under gunicorn every worker is its own process: ``app/serving/gunicorn_conf.py`` sets
``PROMETHEUS_MULTIPROC_DIR`` before any worker imports this module, each worker then writes its
samples to files there, and :func:`exposition` sums them, so any worker answers for all of them.

Label values come from closed sets only (step names, our error codes, schema field names, Cognito
operation and error names, configured limits): never from what a client typed, so no personal
data and no unbounded series.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

from flask import Flask, Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.openmetrics import exposition as openmetrics
from werkzeug.exceptions import HTTPException

from app import errors
from app.schemas import ConfirmRequestSchema, RegisterRequestSchema, ResendRequestSchema
from app.telemetry import tracing

# The *_created series double every line in single-process mode and are absent in multiprocess
# mode: leave them out, so both modes expose the same series.
disable_created_metrics()

SIGNUP_REQUESTS = Counter(
    "signup_requests_total",
    "Sign-up requests by step (register, confirm, resend) and outcome "
    "(success, or the error code answered).",
    ["step", "outcome"],
)
COGNITO_CALLS = Histogram(
    "signup_cognito_request_duration_seconds",
    "Cognito calls by operation and Cognito error code ('none' when the call succeeded).",
    ["operation", "error_code"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
VALIDATION_FAILURES = Counter(
    "signup_validation_failures_total",
    "Request fields refused as invalid, by field name.",
    ["field"],
)
RATE_LIMITED = Counter(
    "signup_rate_limited_total",
    "Requests refused by a rate limit, by limit.",
    ["limit"],
)
SIGN_INS = Counter(
    "signup_sign_ins_total",
    "Confirmations by whether they signed the person in: signed_in, or why not (no_handle, "
    "no_session, session_refused, sign_in_challenged, or the error code of the failed call).",
    ["outcome"],
)
RULE_TRIPS = Counter(
    "signup_rule_trips_total",
    "Requests a sign-up hygiene rule tripped, by rule (SIGNUP_RULE_<RULE>) and mode: enforce "
    "(refused) or shadow (let through, and kept on the sign-up's record).",
    ["rule", "mode"],
)
BREACHED_PASSWORD_CHECKS = Counter(
    "signup_breached_password_checks_total",
    "Passwords checked against the Pwned Passwords range API, by outcome: passed, breached, or "
    "unavailable (no verdict: the range API failed or timed out).",
    ["outcome"],
)

# The endpoints whose answers are sign-up outcomes, and the step each one is.
STEPS = {
    "register.register": "register",
    "register.confirm": "confirm",
    "register.resend": "resend",
}

# Field labels are the request schemas' own field names; anything else (a misspelt field, a map
# key a client made up) is counted as "other" so a client cannot create series at will.
KNOWN_FIELDS = frozenset(
    field.data_key or name
    for schema in (RegisterRequestSchema, ConfirmRequestSchema, ResendRequestSchema)
    for name, field in schema().fields.items()
) | {"redirect_to"}
OTHER = "other"


def field_label(field: str) -> str:
    """``attributes.custom:plan`` counts under ``attributes``; unknown names under ``other``."""
    top = field.split(".", 1)[0]
    return top if top in KNOWN_FIELDS else OTHER


# Each labelled series looked up once per process: ``labels()`` takes a lock and builds a key on
# every call, twice per sign-up. The label sets are closed (see above): a cache holds no more
# entries than the series Prometheus keeps anyway.
_cognito_calls = functools.cache(COGNITO_CALLS.labels)
_signup_requests = functools.cache(SIGNUP_REQUESTS.labels)


def observe_cognito_call(operation: str, error_code: str, seconds: float) -> None:
    """Called by the Cognito gateway for every call it makes, failed or not.

    With tracing on, the observation carries its trace as an exemplar, shown in the OpenMetrics
    format. prometheus_client's multiprocess mode (under gunicorn) keeps no exemplars.
    """
    ids = tracing.current_ids()
    exemplar = {"trace_id": ids[0], "span_id": ids[1]} if ids else None
    _cognito_calls(operation, error_code).observe(seconds, exemplar)


def count_rate_limit_refusal(limit: str) -> None:
    """Count one request refused by ``limit`` (a configured limit's name, never a client key)."""
    RATE_LIMITED.labels(limit).inc()


def count_sign_in(outcome: str) -> None:
    """Count one confirmation's sign-in ``outcome`` (one of the service's own codes)."""
    SIGN_INS.labels(outcome).inc()


def count_rule_trip(rule: str, mode: str) -> None:
    """Count one request that tripped ``rule`` (a rule's name) in ``mode`` (enforce or shadow)."""
    RULE_TRIPS.labels(rule, mode).inc()


def count_breached_password_check(outcome: str) -> None:
    """Count one breached-password check's ``outcome``: passed, breached or unavailable."""
    BREACHED_PASSWORD_CHECKS.labels(outcome).inc()


def count_validation_failures(fields: Iterable[str]) -> None:
    for label in sorted({field_label(field) for field in fields}):
        VALIDATION_FAILURES.labels(label).inc()


def outcome_of(response: Response, error: HTTPException | None) -> str:
    """``success`` for a 2xx/3xx answer, else the ``code`` of the error body answered."""
    if error is None or response.status_code < 400:
        return "success"
    return str(errors.error_body(error)["code"])


def rate_limit_label(error: HTTPException | None) -> str | None:
    """The limit that refused this request, or None when no rate limit of ours did.

    Every refusal of ours, the per-IP limit's included, is a ``RateLimited`` naming its limit;
    Cognito's TooManyAttempts (a 429 too) is not one.
    """
    return error.limit_name if isinstance(error, errors.RateLimited) else None


def record_request(response: Response) -> Response:
    """after_request: count sign-up outcomes, invalid fields and rate-limit refusals."""
    error = errors.current_error()
    step = STEPS.get(request.endpoint or "")
    if step is not None and request.method == "POST":
        _signup_requests(step, outcome_of(response, error)).inc()
    if isinstance(error, errors.InvalidFields):
        count_validation_failures(error.fields)
    limit = rate_limit_label(error)
    if limit is not None:
        count_rate_limit_refusal(limit)
    return response


def exposition(accept: str = "") -> tuple[bytes, str]:
    """The metrics of every worker, and their content type: Prometheus' text format, or
    OpenMetrics (which carries exemplars) when the scraper's ``accept`` asks for it."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    if "application/openmetrics-text" in accept:
        return openmetrics.generate_latest(registry), openmetrics.CONTENT_TYPE_LATEST
    return generate_latest(registry), CONTENT_TYPE_LATEST


def init_app(app: Flask) -> None:
    app.after_request(record_request)
