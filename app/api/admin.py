"""GET /admin/report: the conversion report's page, for whoever holds SIGNUP_REPORT_TOKEN.

The route exists only when the token is set (``create_app`` registers it then), and is not in
the public OpenAPI document. The token comes as ``Authorization: Bearer <token>``, or as the
password of HTTP Basic authentication so a browser can ask for it; it is compared in constant
time and never logged (the access line holds the path alone). The page is the one
``signups report --html`` writes, with the same query options as the command's.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime

from flask import Blueprint, Response, current_app, request

from app import errors
from app.api import report_page
from app.config import ReportSettings
from app.services import conversion
from app.services.conversion import BUCKETS, ReportOptions
from app.storage.repository import REPORT_DIMENSIONS

blp = Blueprint("admin", __name__, url_prefix="/admin")


@blp.get("/report")
def report() -> Response:
    settings: ReportSettings = current_app.config["SIGNUP_REPORT"]
    if settings.token is None or not _holds(settings.token.reveal()):
        raise errors.AdminUnauthorized()
    options = ReportOptions(
        by=_choice("by", REPORT_DIMENSIONS, "variant"),
        since=_timestamp("since"),
        until=_timestamp("until"),
        control=request.args.get("control") or settings.control,
        include_flagged=request.args.get("include_flagged") in ("1", "true"),
        every=_choice("every", BUCKETS, "day"),
        min_sample=settings.min_sample,
        min_group=settings.min_group,
    )
    page = report_page.render(conversion.build(current_app.extensions["signup_records"], options))
    response = Response(page, 200, mimetype="text/html")
    # The page's one inline style, allowed by its hash; nothing else is loaded.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {report_page.style_hash()}; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = "en"  # the report is for the team, in English only
    return response


def _holds(token: str) -> bool:
    """Whether the request carries ``token``, as a bearer token or a Basic password."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    given = value.strip()
    if scheme.lower() == "basic":
        try:
            given = base64.b64decode(given, validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.args.get(name) or default
    if value not in choices:
        raise errors.InvalidFields(fields={name: [f"Use one of: {', '.join(choices)}."]})
    return value


def _timestamp(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return conversion.parse_time(value)
    except ValueError:
        message = "Use a date (2025-01-31) or a date-time (2025-01-31T12:00Z)."
        raise errors.InvalidFields(fields={name: [message]}) from None
