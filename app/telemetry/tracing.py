"""Tracing: one OpenTelemetry trace per request, when the standard OTEL_* settings ask for one.

Off (the default), nothing is instrumented and :func:`span` hands back one shared do-nothing
context manager: no SDK object is created and no library is wrapped. On, the process gets one
TracerProvider with a batch processor, created lazily by the first app: under gunicorn that is in
each worker, after the fork, so every worker has its own export thread. Flask, Redis, botocore
and psycopg are traced by their maintained instrumentations, with what they would record of
personal data or secrets turned off; the steps they cannot see get spans of our own
(docs/tracing.md lists them all).
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Flask
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Span, Status, StatusCode

from app.config import TracingSettings

TRACER_NAME = "signup-service"
# Probes and scrapes: every few seconds from every orchestrator, and nothing to find in them.
EXCLUDED_URLS = "healthz,readyz,metrics"

_NOTHING = contextlib.nullcontext()
_lock = threading.Lock()
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None


class _TypeOnlyTracer(trace.Tracer):
    """A tracer whose spans record a failure's type, never its message or traceback.

    Exception messages carry what was sent: Cognito echoes parameters, drivers quote values.
    The SDK's default (an ``exception`` event with message and stack, and the message as status
    description) is replaced by the error's type, as status and as ``error.type``.
    """

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> Span:
        kwargs.update(record_exception=False, set_status_on_exception=False)
        return self._tracer.start_span(name, *args, **kwargs)

    @contextlib.contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, name: str, *args: Any, set_status_on_exception: bool = True, **kwargs: Any
    ) -> Iterator[Span]:
        kwargs.update(record_exception=False, set_status_on_exception=False)
        with self._tracer.start_as_current_span(name, *args, **kwargs) as span:
            try:
                yield span
            except BaseException as error:
                if span.is_recording():
                    span.set_attribute("error.type", type(error).__qualname__)
                    if set_status_on_exception:
                        span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
                raise


class _TypeOnlyTracerProvider(trace.TracerProvider):
    """Hands the instrumentations :class:`_TypeOnlyTracer` s over the real provider."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _TypeOnlyTracer(self._provider.get_tracer(*args, **kwargs))


def init_app(app: Flask, settings: TracingSettings) -> None:
    """Trace ``app``'s requests when ``settings`` turn tracing on; otherwise do nothing at all."""
    if not settings.enabled:
        return
    provider = _provider or install(_provider_for(settings))
    FlaskInstrumentor().instrument_app(
        app,
        tracer_provider=_TypeOnlyTracerProvider(provider),
        response_hook=_without_query,
        excluded_urls=EXCLUDED_URLS,
        enable_commenter=False,
    )


def install(provider: TracerProvider) -> TracerProvider:
    """Make ``provider`` this process's: our spans and the libraries' go to it.

    Tests pass one with an in-memory exporter; the first one installed stays until uninstall().
    """
    global _provider, _tracer
    with _lock:
        if _provider is not None:
            return _provider
        type_only = _TypeOnlyTracerProvider(provider)
        # Arguments stay out of Redis spans (the default "EVALSHA ? ? ?" form): our keys hold
        # hashed identities and client addresses.
        RedisInstrumentor().instrument(tracer_provider=type_only)
        # No request parameters for cognito-idp (no extension of the instrumentation reads them).
        BotocoreInstrumentor().instrument(tracer_provider=type_only, response_hook=_error_code_only)
        # Statements with placeholders, never their parameters (capture_parameters is off).
        PsycopgInstrumentor().instrument(tracer_provider=type_only, enable_commenter=False)
        _provider, _tracer = provider, type_only.get_tracer(TRACER_NAME)
        return provider


def uninstall() -> None:
    """Undo :func:`install`: the libraries unwrapped, our spans off again (for tests)."""
    global _provider, _tracer
    with _lock:
        if _provider is None:
            return
        RedisInstrumentor().uninstrument()
        BotocoreInstrumentor().uninstrument()
        PsycopgInstrumentor().uninstrument()
        _provider, _tracer = None, None


def shutdown() -> None:
    """Export what is still buffered and stop: at a worker's exit (gunicorn's worker_exit)."""
    provider = _provider
    if provider is not None:
        provider.shutdown()


def span(
    name: str, attributes: Mapping[str, Any] | None = None
) -> contextlib.AbstractContextManager:
    """A span of our own around a step no instrumentation sees; one shared no-op when off.

    Attributes must be closed-set values (outcomes, counts, step names), never what a client sent.
    """
    tracer = _tracer
    if tracer is None:
        return _NOTHING
    return tracer.start_as_current_span(name, attributes=attributes)


class OpenSpan:
    """A span of ours opened by one hook and closed by another (Flask's before and teardown)."""

    def __init__(self, name: str) -> None:
        self._manager = span(name)
        self._manager.__enter__()

    def close(self, error: BaseException | None = None) -> None:
        """End the span, once: the first call wins."""
        manager, self._manager = self._manager, None
        if manager is not None:
            manager.__exit__(type(error) if error else None, error, None)


def open_span(name: str) -> OpenSpan | None:
    """Open ``name`` as a child of the current span; None when nothing is being traced."""
    if _tracer is None or not trace.get_current_span().is_recording():
        return None
    return OpenSpan(name)


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids in hex, or None outside a sampled span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _provider_for(settings: TracingSettings) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.service_name}),
        sampler=_sampler(settings),
        shutdown_on_exit=False,  # gunicorn's worker_exit calls shutdown(); atexit for the rest
    )
    provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    atexit.register(shutdown)
    return provider


def _exporter(settings: TracingSettings) -> SpanExporter:
    if settings.exporter == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=settings.endpoint)


def _sampler(settings: TracingSettings) -> Sampler:
    root: Sampler = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(settings.sampler_ratio),
    }[settings.sampler.removeprefix("parentbased_")]
    return ParentBased(root) if settings.sampler.startswith("parentbased_") else root


def _without_query(span: Span, _status: str, _headers: Any) -> None:
    """The request's path, never its query string: a link may carry an address or a code.

    A response hook: the instrumentation sets the request's attributes after its request hook.
    """
    recorded = getattr(span, "attributes", None)
    if not span.is_recording() or not recorded:
        return
    for key in ("http.target", "http.url"):
        value = recorded.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, value.split("?", 1)[0])
    if recorded.get("url.query"):
        span.set_attribute("url.query", "")


def _error_code_only(span: Span, _service: str, _operation: str, result: Any) -> None:
    """Cognito's error code as the status, never its message: messages can echo what was sent."""
    if not span.is_recording():
        return
    status = getattr(span, "status", None)
    if status is not None and status.status_code is StatusCode.ERROR:
        code = (result or {}).get("Error", {}).get("Code", "") if isinstance(result, dict) else ""
        span.set_status(Status(StatusCode.ERROR, code or "error"))
