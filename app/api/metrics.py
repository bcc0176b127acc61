"""GET /metrics: every worker's metrics in Prometheus' text format, or OpenMetrics on request."""

from __future__ import annotations

from flask import Response, request

from app.api.body import Blueprint
from app.telemetry import metrics

blp = Blueprint("metrics", __name__, description="Prometheus metrics for operators.")


@blp.get("/metrics")
@blp.response(
    200,
    {"type": "string"},
    content_type="text/plain",
    description="Prometheus text format: signup_requests_total, "
    "signup_cognito_request_duration_seconds, signup_validation_failures_total, "
    "signup_rate_limited_total.",
)
def scrape():
    """Metrics for Prometheus to scrape: sign-up outcomes, Cognito latency, refusals."""
    body, content_type = metrics.exposition(request.headers.get("Accept", ""))
    return Response(body, 200, content_type=content_type)
