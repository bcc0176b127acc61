"""The ``Idempotency-Key`` header: a view decorator that replays the first answer to a retry.

Used below ``@blp.arguments``, so a request that fails validation never claims its key, and above
``@blp.response``, so the decorator sees the finished response it stores and replays.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from app import errors
from app.api.body import BodyParser
from app.errors import handle_http_exception
from app.negotiation import wants_page
from app.repository import StoredAnswer
from app.services.idempotency import HEADER, IdempotencyService

# Printable ASCII without spaces, as UUIDs and the usual random tokens are.
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"

HEADER_DOC = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "A unique value per logical request (e.g. a UUID). A retry with the same key "
    "and body gets the first answer again, marked `Idempotent-Replayed: true`, without a second "
    "call to Cognito; the same key with another body is a 422 `idempotency_key_reused`; while the "
    "first request is still running, a 409 `idempotency_in_progress`. Keys expire after "
    "SIGNUP_IDEMPOTENCY_TTL (24 h).",
}


# What a view marked @idempotent can answer because of the header, for its error_answers.
IDEMPOTENCY_ERRORS = (
    errors.IdempotencyKeyReused,
    errors.IdempotencyInProgress,
    errors.StorageUnavailable,  # the key cannot be claimed
)


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY.fullmatch(key):
            raise errors.InvalidFields(
                fields={HEADER: ["Use 1-255 printable ASCII characters without spaces."]}
            )
        service: IdempotencyService | None = current_app.extensions.get("idempotency")
        if service is None:
            raise errors.NotConfigured()
        replay = service.begin(key, _request_fingerprint())
        if replay is not None:
            response = Response(replay.body, replay.status, content_type=replay.content_type)
            response.headers[REPLAYED_HEADER] = "true"
            return response
        try:
            response = _answer(view, args, kwargs)
        except BaseException:
            service.abandon(key)
            raise
        if response.mimetype != "application/json":
            # Pages and redirects echo what the person typed (their email): never kept at rest.
            # A browser's plain form cannot send the header anyway; fetch and apps get JSON.
            service.abandon(key)
            return response
        service.finish(
            key,
            StoredAnswer(
                response.status_code, response.content_type or "", response.get_data(True)
            ),
        )
        return response

    return wrapper


def _request_fingerprint() -> dict[str, Any]:
    """What makes two requests the same: endpoint, page-or-JSON answer, and the body as parsed."""
    body = BodyParser().load_body(request, schema=None)  # type: ignore[arg-type]
    return {"path": request.path, "page": wants_page(), "body": body}


def _answer(view: Callable[..., Any], args: Any, kwargs: Any) -> Response:
    """The view's response, with an error rendered exactly as the error handler would."""
    try:
        return current_app.make_response(view(*args, **kwargs))
    except HTTPException as error:
        return handle_http_exception(error)
