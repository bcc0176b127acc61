"""The ``Idempotency-Key`` header: a view decorator that replays the first answer to a retry.

Used below ``@blp.arguments``, so a request that fails validation never claims its key; the
answer is stored when the response is final, whatever produced it (``init_app``'s hooks).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_babel import gettext

from app import errors
from app.api.body import parsed_body
from app.api.negotiation import wants_page
from app.services.idempotency import HEADER, IdempotencyService
from app.services.sign_in import HANDLE_FIELD as SIGN_IN_HANDLE_FIELD
from app.storage.repository import StoredAnswer

logger = logging.getLogger(__name__)

# Printable ASCII without spaces, as UUIDs and the usual random tokens are.
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"

HEADER_DOC = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": _KEY.pattern},
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
    """Replay the stored answer to a retry; otherwise claim the key and run the view.

    The answer is stored, or the claim released, once the response is final (``_settle``), so
    an error is kept exactly as the one error handler rendered it.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY.fullmatch(key):
            raise errors.InvalidFields(
                fields={HEADER: [gettext("Use 1-255 printable ASCII characters without spaces.")]}
            )
        replay = _service().begin(key, _request_fingerprint())
        if replay is not None:
            response = Response(replay.body, replay.status, content_type=replay.content_type)
            response.headers[REPLAYED_HEADER] = "true"
            return response
        g.idempotency_key = key
        return view(*args, **kwargs)

    return wrapper


def _service() -> IdempotencyService:
    service: IdempotencyService | None = current_app.extensions.get("idempotency")
    if service is None:
        logger.warning(errors.NotConfigured.log_message)
        raise errors.NotConfigured()
    return service


def _request_fingerprint() -> dict[str, Any]:
    """What makes two requests the same: endpoint, page-or-JSON answer, and the body as parsed."""
    return {"path": request.path, "page": wants_page(), "body": parsed_body()}


def _settle(response: Response) -> Response:
    """after_request: keep the final answer for retries under the claimed key."""
    key = g.pop("idempotency_key", None)
    if key is None:
        return response
    if response.mimetype != "application/json":
        # Pages and redirects echo what the person typed (their email): never kept at rest.
        # A browser's plain form cannot send the header anyway; fetch and apps get JSON.
        _service().abandon(key)
        return response
    answer = StoredAnswer(
        response.status_code, response.content_type or "", _kept_body(response.get_data(True))
    )
    _service().finish(key, answer)
    return response


def _kept_body(body: str) -> str:
    """The body as kept for replays: without the sign-in handle, a secret never at rest. A
    replayed sign-up confirms, but signs nobody in."""
    if SIGN_IN_HANDLE_FIELD not in body:
        return body
    answer = json.loads(body)
    answer.pop(SIGN_IN_HANDLE_FIELD, None)
    return json.dumps(answer)


def _release_unsettled(_error: BaseException | None) -> None:
    """teardown: a request that ended without a final answer (a killed greenlet) frees its key."""
    key = g.pop("idempotency_key", None)
    if key is not None:
        _service().abandon(key)


def init_app(app: Flask) -> None:
    app.after_request(_settle)
    app.teardown_request(_release_unsettled)
