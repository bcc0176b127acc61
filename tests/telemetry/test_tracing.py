"""Tracing: one trace per request, the steps inside it named, and nothing secret in any span."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.cognito import secret_hash
from app.config import ConfigError, TracingSettings
from app.telemetry import tracing
from tests.conftest import GENEROUS_LIMITS, SIGN_UP_SPANS, signup_body

PASSWORD = "Sup3r-secret-pw"
FINGERPRINT = "FINGERPRINT-0123456789abcdef"
CAPTCHA_TOKEN = "CAPTCHA-TOKEN-0123456789"
EMAIL = "ada.lovelace@example.com"
PHONE = "+447700900123"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Every span the process finishes, kept in memory while the test runs."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.uninstall()
    provider.shutdown()


@pytest.fixture
def traced(make_app, exported, redis_url, redis_prefix) -> Flask:
    """An app with tracing on, its limits in Redis, so the Redis calls are traced too."""
    return make_app(
        OTEL_TRACES_EXPORTER="otlp",
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_KEY_PREFIX=redis_prefix,
        **GENEROUS_LIMITS,
    )


def names(spans: tuple[ReadableSpan, ...]) -> list[str]:
    return [span.name for span in spans]


def server_span(spans: tuple[ReadableSpan, ...]) -> ReadableSpan:
    (root,) = [span for span in spans if span.parent is None or span.parent.is_remote]
    return root


@pytest.mark.parametrize(
    ("env", "exporter"),
    [
        ({}, "none"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "none"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, "none"),
    ],
)
def test_tracing_is_off_unless_an_exporter_or_endpoint_is_configured(env, exporter):
    assert TracingSettings.from_env(env).exporter == exporter


@pytest.mark.parametrize(
    ("env", "endpoint"),
    [
        ({}, "http://localhost:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:9/t"}, "http://c:9/t"),
    ],
)
def test_the_endpoint_follows_the_otlp_rules(env, endpoint):
    assert TracingSettings.from_env({"OTEL_TRACES_EXPORTER": "otlp", **env}).endpoint == endpoint


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_TRACES_SAMPLER": "sometimes"},
        {"OTEL_TRACES_SAMPLER_ARG": "2"},
    ],
)
def test_a_setting_the_service_cannot_honour_stops_it(env):
    with pytest.raises(ConfigError):
        TracingSettings.from_env(env)


def test_off_our_spans_are_one_shared_no_op():
    assert tracing.span("signup.budgets") is tracing.span("signup.validate")


def test_off_nothing_is_traced(client, cognito, exported):
    tracing.uninstall()

    client.post("/register", json=signup_body())

    assert exported.get_finished_spans() == ()


def test_a_sign_up_is_one_trace_with_a_span_per_step(traced, cognito, exported):
    response = traced.test_client().post("/register", json=signup_body())

    assert response.status_code == 201
    spans = exported.get_finished_spans()
    assert len({span.context.trace_id for span in spans}) == 1
    root = server_span(spans)
    assert root.name == "POST /register"
    for step in SIGN_UP_SPANS:
        assert step in names(spans)
    redis_spans = [span for span in spans if span.attributes.get("db.system") == "redis"]
    assert len(redis_spans) >= 2  # the per-IP limit and the budgets


def test_the_per_ip_limit_s_redis_call_is_inside_its_span(traced, cognito, exported):
    traced.test_client().post("/register", json=signup_body())

    spans = exported.get_finished_spans()
    (limit,) = [span for span in spans if span.name == "signup.per_ip_limit"]
    assert limit.parent.span_id == server_span(spans).context.span_id
    assert any(span.parent and span.parent.span_id == limit.context.span_id for span in spans)


def test_a_refusal_by_the_per_ip_limit_ends_its_span(make_app, exported, cognito, caplog):
    app = make_app(OTEL_TRACES_EXPORTER="otlp", SIGNUP_RATE_LIMIT_PER_IP="1/minute")
    client = app.test_client()
    client.post("/register", json=signup_body())
    exported.clear()

    assert client.post("/register", json=signup_body()).status_code == 429

    spans = exported.get_finished_spans()
    assert names(spans).count("signup.per_ip_limit") == 1
    assert server_span(spans).name == "POST /register"
    assert "signup.budgets" not in names(spans)
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_pages_have_no_per_ip_limit_span(traced, exported):
    traced.test_client().get("/")

    assert "signup.per_ip_limit" not in names(exported.get_finished_spans())


def test_confirm_and_resend_name_their_steps(traced, cognito, exported):
    client = traced.test_client()
    client.post("/register", json=signup_body())
    exported.clear()

    client.post("/register/resend", json={"username": "ada@example.com"})
    client.post(
        "/register/confirm",
        json={"username": "ada@example.com", "code": cognito.code_for("ada@example.com")},
    )

    spans = names(exported.get_finished_spans())
    assert "Cognito Identity Provider.ResendConfirmationCode" in spans
    assert "Cognito Identity Provider.ConfirmSignUp" in spans
    assert spans.count("signup.record.lookup") == 2


def test_an_incoming_traceparent_is_continued(traced, cognito, exported):
    traced.test_client().post("/register", json=signup_body(), headers={"traceparent": TRACEPARENT})

    spans = exported.get_finished_spans()
    assert {format(span.context.trace_id, "032x") for span in spans} == {TRACEPARENT[3:35]}
    assert format(server_span(spans).parent.span_id, "016x") == TRACEPARENT[36:52]


def test_probes_and_scrapes_are_not_traced(traced, exported):
    client = traced.test_client()
    for path in ("/healthz", "/metrics"):
        client.get(path)

    assert exported.get_finished_spans() == ()


def test_a_request_s_log_lines_carry_its_trace_and_span_ids(traced, cognito, exported, capsys):
    capsys.readouterr()

    traced.test_client().post("/register", json=signup_body(), headers={"traceparent": TRACEPARENT})

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    (access,) = [line for line in lines if line["logger"] == "signup.access"]
    assert access["trace_id"] == TRACEPARENT[3:35]
    assert len(access["span_id"]) == 16


def test_cognito_latency_carries_its_trace_as_an_exemplar(traced, cognito, exported):
    client = traced.test_client()
    client.post("/register", json=signup_body(), headers={"traceparent": TRACEPARENT})

    scrape = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})

    assert scrape.headers["Content-Type"].startswith("application/openmetrics-text")
    assert f'trace_id="{TRACEPARENT[3:35]}"' in scrape.get_data(as_text=True)


@pytest.fixture
def flow_spans(traced, cognito, exported, caplog) -> str:
    """Every exported span of a sign-up, its failures, a resend and a confirmation, as text."""
    caplog.set_level(logging.DEBUG)
    client = traced.test_client()
    body = signup_body(
        email=EMAIL,
        password=PASSWORD,
        encoded_data=FINGERPRINT,
        captcha_token=CAPTCHA_TOKEN,
        phone_number=PHONE,
    )
    client.post(f"/register?email={EMAIL}&code=123456", json=body)
    for error_code in ("InvalidParameterException", "UsernameExistsException"):
        cognito.fail_next("SignUp", error_code, f"echo {EMAIL} {PASSWORD} {FINGERPRINT}")
        client.post("/register", json=body)
    client.post("/register/resend", json={"username": EMAIL, "encoded_data": FINGERPRINT})
    code = cognito.code_for(EMAIL)
    client.post("/register/confirm", json={"username": EMAIL, "code": code})
    cognito.fail_next("ConfirmSignUp", "CodeMismatchException", f"echo {code} {EMAIL}")
    client.post("/register/confirm", json={"username": EMAIL, "code": "999999"})
    spans = exported.get_finished_spans()
    assert len(spans) > 20
    return "\n".join(span.to_json() for span in spans), code


def test_no_span_holds_a_secret_or_personal_data(flow_spans, cognito):
    text, code = flow_spans
    hashed = secret_hash(EMAIL, cognito.client_id, cognito.client_secret)

    for secret in (
        PASSWORD,
        FINGERPRINT,
        CAPTCHA_TOKEN,
        cognito.client_secret,
        hashed,
        code,
        "999999",
        "123456",
        EMAIL,
        EMAIL.replace("@", "%40"),
        PHONE,
        PHONE[1:],
    ):
        assert secret not in text, secret


def test_the_flow_really_sent_the_secrets_upstream(flow_spans, cognito):
    # Guards the test above: the values it looks for were in play.
    params = cognito.calls("SignUp")[0].params
    assert params["Password"] == PASSWORD
    assert params["UserContextData"]["EncodedData"] == FINGERPRINT
    assert {"Name": "phone_number", "Value": PHONE} in params["UserAttributes"]
