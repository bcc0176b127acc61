"""POST /register, /register/confirm and /register/resend."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app import errors
from app.api.body import Blueprint
from app.api.client_ip import request_client_ip as client_ip
from app.api.forms import form_answer
from app.api.idempotency import HEADER_DOC, IDEMPOTENCY_ERRORS, idempotent
from app.api.negotiation import is_form, wants_page
from app.api.openapi import error_answers, form_body, page_answers
from app.schemas import (
    ConfirmRequest,
    ConfirmRequestSchema,
    ConfirmResponseSchema,
    RegisterRequestSchema,
    RegisterResponseSchema,
    ResendRequest,
    ResendRequestSchema,
    ResendResponseSchema,
    SignupRequest,
)
from app.services.signup import SignupService

blp = Blueprint(
    "register",
    __name__,
    url_prefix="/register",
    description="Create an account in the user pool, confirm it, and re-send the code.",
)

# Answers every step can give: a body we cannot read, Cognito or our limits refusing, Cognito
# failing.
COMMON_ERRORS = (
    errors.MalformedBody,
    errors.Forbidden,
    errors.CrossOriginForm,
    RequestEntityTooLarge,
    errors.UnsupportedContentType,
    errors.InvalidFields,
    errors.RateLimited,
    errors.UpstreamError,
    errors.UpstreamUnavailable,
    errors.NotConfigured,
    errors.UpstreamThrottled,
    errors.UpstreamTimeout,
    errors.SignupsBusy,
    errors.RateLimitsUnavailable,
)


def signups() -> SignupService:
    service = current_app.extensions.get("signup")
    if service is None:
        raise errors.NotConfigured()
    return service


@blp.post("")
@blp.arguments(RegisterRequestSchema(), location="body")
@form_body(RegisterRequestSchema)
@blp.doc(parameters=[HEADER_DOC])
@idempotent
@blp.response(201, RegisterResponseSchema())
@page_answers(
    blp,
    201,
    "Created, not yet confirmed: Cognito sent a code. JSON for API clients; for a browser's "
    "form post, a page asking for the code.",
)
@error_answers(
    blp,
    *COMMON_ERRORS,
    *IDEMPOTENCY_ERRORS,  # StorageUnavailable also when the sign-up's record cannot be written
    errors.UsernameTaken,
    errors.SignupRejected,
    errors.CodeDeliveryFailed,
    errors.CodeDeliveryLimited,
    errors.CaptchaFailed,
    errors.CaptchaUnavailable,
)
def register(signup: SignupRequest):
    """Sign up: create an unconfirmed account and send a confirmation code.

    Accepts JSON or an HTML form (`application/x-www-form-urlencoded`).
    """
    registered = signups().register(signup, client_ip(), "form" if is_form(request) else "json")
    if wants_page():
        return form_answer(
            "result.html",
            201,
            heading="Check your inbox",
            delivery=registered.code_delivery,
            next_step="Enter the code to finish signing up.",
            username=signup.username,
        )
    return registered


@blp.post("/confirm")
@blp.arguments(ConfirmRequestSchema(), location="body")
@form_body(ConfirmRequestSchema)
@blp.response(200, ConfirmResponseSchema())
@page_answers(
    blp, 200, "Confirmed. JSON for API clients; for a browser's form post, a page saying so."
)
@error_answers(
    blp,
    *COMMON_ERRORS,
    errors.UserNotFound,
    errors.AlreadyConfirmed,
    errors.UsernameTaken,
    errors.CodeMismatch,
    errors.CodeExpired,
    errors.SignupRejected,
    errors.TooManyAttempts,
)
def confirm(confirmation: ConfirmRequest):
    """Confirm an account with the code Cognito sent."""
    signups().confirm(confirmation, client_ip())
    if wants_page():
        return form_answer(
            "result.html", 200, heading="You're signed up", next_step="You can sign in."
        )
    return {"confirmed": True}


@blp.post("/resend")
@blp.arguments(ResendRequestSchema(), location="body")
@form_body(ResendRequestSchema)
@blp.doc(parameters=[HEADER_DOC])
@idempotent
@blp.response(200, ResendResponseSchema())
@page_answers(
    blp,
    200,
    "A new code was sent. JSON for API clients; for a browser's form post, a page asking for "
    "the code.",
)
@error_answers(
    blp,
    *COMMON_ERRORS,
    *IDEMPOTENCY_ERRORS,
    errors.UserNotFound,
    errors.AlreadyConfirmed,
    errors.CodeDeliveryFailed,
)
def resend(resend: ResendRequest):
    """Send a new confirmation code to an account that is not confirmed yet."""
    resent = signups().resend(resend, client_ip())
    if wants_page():
        return form_answer(
            "result.html",
            200,
            heading="A new code is on its way",
            delivery=resent.code_delivery,
            next_step="Enter the new code to finish signing up.",
            username=resend.username,
        )
    return resent
