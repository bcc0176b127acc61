"""GET /: the demo sign-up page, a working example of a landing page using /static/signup.js."""

from __future__ import annotations

from flask import current_app

from app.api.body import Blueprint
from app.api.negotiation import page

blp = Blueprint("pages", __name__, description="Pages for people.")

ADVANCED_SECURITY_SCRIPT = (
    "https://amazon-cognito-assets.{region}.amazoncognito.com/"
    "amazon-cognito-advanced-security-data.min.js"
)


@blp.get("/")
@blp.response(200, {"type": "string"}, content_type="text/html")
def demo():
    """The demo sign-up page: register, then confirm with the code; works without JavaScript."""
    gateway = current_app.extensions.get("cognito")
    cognito = gateway.browser_settings if gateway is not None else None
    script = ADVANCED_SECURITY_SCRIPT.format(region=cognito["region"]) if cognito else None
    return page("demo.html", 200, cognito=cognito, advanced_security_script=script)
