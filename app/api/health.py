"""GET /healthz (the process is up) and GET /readyz (what a sign-up needs is reachable)."""

from __future__ import annotations

from flask import current_app
from marshmallow import Schema, fields, validate

from app.api.body import Blueprint
from app.telemetry import readiness

blp = Blueprint("health", __name__, description="Probes for load balancers and orchestrators.")


class HealthSchema(Schema):
    status = fields.String(required=True)


class ReadinessSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "not_ready"]))
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.OneOf(["ok", "failed", "timeout"])),
        required=True,
        metadata={"description": "Each dependency checked, e.g. cognito, and its state."},
    )


@blp.get("/healthz")
@blp.response(200, HealthSchema())
def healthz():
    """Liveness: 200 whenever the process can serve a request."""
    return {"status": "ok"}


@blp.get("/readyz")
@blp.response(200, ReadinessSchema(), description="Every dependency answered.")
@blp.alt_response(
    503,
    schema=ReadinessSchema,
    description="A dependency failed or did not answer in time: take this instance out of "
    "the load balancer until it recovers. The body says which.",
)
def readyz():
    """Readiness: 200 only when what a sign-up needs (Cognito, storage) is reachable."""
    state = readiness.run_checks(readiness.checks(current_app))
    body = {"status": "ready" if state.ready else "not_ready", "checks": state.checks}
    return body, 200 if state.ready else 503
