"""GET /healthz: the process is up and serving."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.api.body import Blueprint

blp = Blueprint("health", __name__, description="Probes for load balancers and orchestrators.")


class HealthSchema(Schema):
    status = fields.String(required=True)


@blp.get("/healthz")
@blp.response(200, HealthSchema())
def healthz():
    """Liveness: 200 whenever the process can serve a request."""
    return {"status": "ok"}
