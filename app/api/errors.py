"""The one error handler: every error, whatever raised it, is answered here in the one shape.

Our own errors (``app.errors``), werkzeug's (404, 405, 413), flask-limiter's refusals (raised as
``RateLimited`` by ``app.api.rate_limits``), a rate-limit storage that fails, and anything
unexpected all end up in :func:`handle_error`: JSON for API clients, a page for a browser (its
form, or an address it opened).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify
from limits.errors import StorageError
from werkzeug.exceptions import HTTPException

from app import errors
from app.api.negotiation import page, wants_page
from app.storage.limits import STORAGE_RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)


def as_http_error(error: Exception) -> HTTPException:
    """The answer an exception stands for; anything unforeseen is a 500 with nothing of it."""
    if isinstance(error, HTTPException):
        return error
    if isinstance(error, StorageError):
        # flask-limiter's per-IP check, before the view: we refuse rather than go unguarded.
        logger.error(
            "Rate-limit storage failed (%s): refusing the request",
            type(error.storage_error).__name__,
        )
        return errors.RateLimitsUnavailable(retry_after=STORAGE_RETRY_AFTER_SECONDS)
    logger.exception("unhandled error")
    return errors.APIError()


def handle_error(error: Exception) -> Response:
    answered = g.error = as_http_error(error)
    status = answered.code or 500
    body = errors.error_body(answered)
    if wants_page():
        response = page("error.html", status, error=body)
    else:
        response = jsonify(body)
        response.status_code = status
    response.headers.extend(_extra_headers(answered))
    return response


def _extra_headers(error: HTTPException) -> list[tuple[str, str]]:
    """Headers an error carries besides its body: Retry-After, Allow (405), and the like."""
    headers = [
        (name, value) for name, value in error.get_headers() if name.lower() != "content-type"
    ]
    if isinstance(error, errors.APIError) and error.retry_after is not None:
        headers.append(("Retry-After", str(error.retry_after)))
    return headers


def init_app(app: Flask) -> None:
    # HTTPException too: flask-smorest registers its own handler for it, which this replaces.
    app.register_error_handler(HTTPException, handle_error)
    app.register_error_handler(Exception, handle_error)
