"""Logging set-up: every logger writes one JSON object per line, to stdout when serving.

Under the Flask CLI the lines go to stderr instead, so a command's output (``signups report
--json``) is only its output. gunicorn's own loggers use :class:`JsonFormatter` too
(app/serving/gunicorn_conf.py), so everything the service prints is one JSON document per line.
This module imports nothing of the app's, so the gunicorn master can load it before any worker
exists.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from flask import g, has_request_context
from opentelemetry import trace

# Attributes every LogRecord has; anything else on a record was passed in ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, request id, ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to every record logged while it is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and "request_id" in g and not hasattr(record, "request_id"):
            record.request_id = g.request_id
        return True


class TraceIdFilter(logging.Filter):
    """Adds the current trace and span ids, when tracing is on and a span is open.

    The ids are hex, as trace UIs and OTLP show them, so a line can be pasted into a trace search.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid and not hasattr(record, "trace_id"):
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


class JsonLinesHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` (or ``sys.stderr``) is at the time, as gunicorn and
    pytest replace them."""

    def __init__(self, stream_name: Literal["stdout", "stderr"] = "stdout") -> None:
        self.stream_name = stream_name
        super().__init__(self.stream)
        self.setFormatter(JsonFormatter())
        self.addFilter(RequestIdFilter())
        self.addFilter(TraceIdFilter())

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """The stream is always the current one; StreamHandler's assignment is ignored."""


def configure_logging(level: str, stream_name: Literal["stdout", "stderr"] = "stdout") -> None:
    """Route every logger through one JSON handler, replacing ours from earlier apps."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, JsonLinesHandler)]:
        root.removeHandler(handler)
    root.addHandler(JsonLinesHandler(stream_name))
    root.setLevel(level)
    # At DEBUG, botocore and urllib3 log whole request bodies: passwords and SECRET_HASH values.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    # Alembic lists its autogenerate plugins at INFO on import: noise in every worker's log.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
