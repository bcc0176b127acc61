"""GET /: the demo sign-up page, a working example of a landing page using /static/signup.js."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

from app.api.body import Blueprint
from app.api.i18n import LANG_PARAMETER
from app.api.negotiation import page

blp = Blueprint("pages", __name__, description="Pages for people.")

ADVANCED_SECURITY_SCRIPT = (
    "https://amazon-cognito-assets.{region}.amazoncognito.com/"
    "amazon-cognito-advanced-security-data.min.js"
)

# What /static/signup.js says by itself, in the page's language; {name} is filled in by the script.
SCRIPT_MESSAGES = {
    "checkInbox": _l("Check your inbox for a confirmation code."),
    "signedIn": _l("You're signed in."),
    "confirmed": _l("Your account is confirmed. You can sign in now."),
    "resentTo": _l("A new code is on its way to {destination}."),
    "resent": _l("A new code is on its way."),
    "failed": _l("Something went wrong. Please try again."),
    "wait": _l("Please wait {seconds} seconds before trying again."),
    "unreachable": _l("We could not reach the server. Check your connection and try again."),
}


@blp.get("/")
@blp.doc(parameters=[LANG_PARAMETER])
@blp.response(200, {"type": "string"}, content_type="text/html")
def demo():
    """The demo sign-up page: register, then confirm with the code; works without JavaScript."""
    gateway = current_app.extensions.get("cognito")
    cognito = gateway.browser_settings if gateway is not None else None
    script = ADVANCED_SECURITY_SCRIPT.format(region=cognito["region"]) if cognito else None
    return page(
        "demo.html",
        200,
        cognito=cognito,
        advanced_security_script=script,
        script_messages=SCRIPT_MESSAGES,
    )
