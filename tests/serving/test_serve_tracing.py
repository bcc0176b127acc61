"""Tracing under gunicorn: each gevent worker exports its own spans, and flushes them on SIGTERM."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import GENEROUS_LIMITS, SIGN_UP_SPANS, forget_keys, signup_body
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.servers import Gunicorn, clean_environment

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SIGNUPS = 6


def sign_up(base: str, number: int, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(
        f"{base}/register",
        json.dumps(signup_body(email=f"traced{number}@example.com")).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@pytest.fixture(scope="module")
def received(
    tmp_path_factory, cognito_server, redis_url, postgres_session_database
) -> Iterator[OtlpReceiver]:
    """Sign-ups through two workers, one continuing a caller's trace; then SIGTERM.

    The batch processor's delay is a minute, longer than the test: every request's span the
    receiver has was flushed at shutdown. (The migrations run before gunicorn, by the same
    settings, export theirs when that command exits.)
    """
    prefix = f"test-{uuid.uuid4().hex}"
    with OtlpReceiver() as receiver:
        env = clean_environment(
            **cognito_server.settings(),
            **GENEROUS_LIMITS,
            WEB_CONCURRENCY="2",
            RATELIMIT_STORAGE_URI=redis_url,
            RATELIMIT_KEY_PREFIX=prefix,
            DATABASE_URL=postgres_session_database,
            OTEL_SERVICE_NAME="signup-under-test",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="60000",
        )
        server = Gunicorn(env, tmp_path_factory.mktemp("traced")).start()
        try:
            statuses = [sign_up(server.base, n) for n in range(SIGNUPS)]
            statuses.append(sign_up(server.base, SIGNUPS, {"traceparent": TRACEPARENT}))
            assert statuses == [201] * (SIGNUPS + 1)
            assert register_traces(receiver) == []  # not exported yet: the shutdown sends them
        finally:
            server.stop()
            forget_keys(redis_url, prefix)
        assert server.process is not None
        assert server.process.returncode == 0, server.output()
        yield receiver


def register_traces(receiver: OtlpReceiver) -> list[list[ReceivedSpan]]:
    return [
        spans
        for spans in receiver.traces().values()
        if any(span.name == "POST /register" for span in spans)
    ]


@pytest.mark.redis
@pytest.mark.postgres
def test_every_sign_up_arrives_after_sigterm_as_one_trace(received):
    assert len(register_traces(received)) == SIGNUPS + 1
    assert {span.resource["service.name"] for span in received.spans} == {"signup-under-test"}


@pytest.mark.redis
@pytest.mark.postgres
def test_each_trace_has_the_steps_a_person_looks_for(received):
    for spans in register_traces(received):
        names = [span.name for span in spans]
        (root,) = [span for span in spans if span.name == "POST /register"]
        for step in SIGN_UP_SPANS:
            assert step in names
        assert sum(span.attributes.get("db.system") == "redis" for span in spans) >= 2
        children = [span for span in spans if span is not root]
        known = {span.span_id for span in spans}
        assert all(span.parent_span_id in known for span in children)


@pytest.mark.redis
@pytest.mark.postgres
def test_the_record_writes_reach_postgresql_through_traced_driver_calls(received):
    statements = [
        span.attributes.get("db.statement", "")
        for span in received.spans
        if span.attributes.get("db.system") == "postgresql"
    ]
    assert any(statement.startswith("INSERT INTO signup_records") for statement in statements)
    assert any(statement.startswith("UPDATE signup_records") for statement in statements)


@pytest.mark.redis
@pytest.mark.postgres
def test_an_incoming_traceparent_is_continued(received):
    (continued,) = [
        spans for spans in register_traces(received) if spans[0].trace_id == TRACEPARENT[3:35]
    ]
    (root,) = [span for span in continued if span.name == "POST /register"]
    assert root.parent_span_id == TRACEPARENT[36:52]
