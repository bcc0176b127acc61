"""POST /register, /register/confirm and /register/resend."""

from __future__ import annotations

import logging
from typing import Any

from flask import after_this_request, current_app, g, redirect, request
from flask_babel import gettext
from werkzeug.exceptions import RequestEntityTooLarge

from app import errors
from app.api.body import Blueprint
from app.api.client_ip import request_client_ip as client_ip
from app.api.forms import form_answer
from app.api.i18n import LANG_PARAMETER
from app.api.idempotency import HEADER_DOC, IDEMPOTENCY_ERRORS, idempotent
from app.api.negotiation import is_form, wants_page
from app.api.openapi import error_answers, form_body, page_answers
from app.api.sign_in import (
    HANDLE_COOKIE_PARAMETER,
    HANDLE_SET_COOKIE_DOC,
    TOKEN_SET_COOKIES_DOC,
    give_handle,
    give_tokens,
    handle_from_cookie,
    is_browser,
    settings,
)
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
from app.services.signup import Confirmed, Registered, SignupService

logger = logging.getLogger(__name__)

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
        logger.warning(errors.NotConfigured.log_message)
        raise errors.NotConfigured()
    return service


@blp.post("")
@blp.arguments(RegisterRequestSchema(), location="body")
@form_body(RegisterRequestSchema)
@blp.doc(parameters=[HEADER_DOC, LANG_PARAMETER])
@idempotent
@blp.response(201, RegisterResponseSchema(), headers=HANDLE_SET_COOKIE_DOC)
@page_answers(
    blp,
    201,
    "Created, not yet confirmed: Cognito sent a code. JSON for API clients; for a browser's "
    "form post, a page asking for the code. Browsers get the sign-in handle as a cookie.",
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
    errors.BreachedPassword,
    errors.PasswordCheckUnavailable,
    errors.DisposableEmail,
    errors.EmailDomainNotAllowed,
    errors.EmailDomainDenied,
    errors.EmailSubaddress,
)
def register(signup: SignupRequest):
    """Sign up: create an unconfirmed account and send a confirmation code.

    Accepts JSON or an HTML form (`application/x-www-form-urlencoded`).
    """
    registered = signups().register(signup, client_ip(), "form" if is_form(request) else "json")
    browser = is_browser()
    handle = registered.sign_in_handle
    if handle is not None and browser:
        after_this_request(lambda response: give_handle(response, handle) or response)
    if wants_page():
        return form_answer(
            "result.html",
            201,
            heading=gettext("Check your inbox"),
            delivery=registered.code_delivery,
            next_step=gettext("Enter the code to finish signing up."),
            username=signup.username,
        )
    return _registered_answer(registered, with_handle=not browser)


def _registered_answer(registered: Registered, *, with_handle: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "user_confirmed": registered.user_confirmed,
        "code_delivery": registered.code_delivery,
    }
    if with_handle and registered.sign_in_handle is not None:
        answer["sign_in_handle"] = registered.sign_in_handle
    return answer


@blp.post("/confirm")
@blp.arguments(ConfirmRequestSchema(), location="body")
@form_body(ConfirmRequestSchema)
@blp.doc(parameters=[HANDLE_COOKIE_PARAMETER, LANG_PARAMETER])
@blp.response(200, ConfirmResponseSchema(), headers=TOKEN_SET_COOKIES_DOC)
@page_answers(
    blp,
    200,
    "Confirmed. JSON for API clients; for a browser's form post, a page saying so, or when "
    "signed in a 303 to `redirect_to` or SIGNUP_SIGNED_IN_URL. Browsers signed in get the "
    "tokens as HttpOnly cookies.",
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
    errors.InvalidSignInHandle,
)
def confirm(confirmation: ConfirmRequest):
    """Confirm an account with the code Cognito sent, and sign the person in.

    Signed in when the client brings its sign-up's handle (`sign_in_handle`, or a browser's
    cookie) while Cognito's Session lasts; otherwise confirmed with `signed_in: false`.
    """
    browser = is_browser()
    handle = confirmation.sign_in_handle or (handle_from_cookie() if browser else None)
    confirmed = signups().confirm(confirmation, client_ip(), handle)
    tokens = confirmed.tokens
    if tokens is not None and browser:
        after_this_request(lambda response: give_tokens(response, tokens) or response)
    if wants_page():
        return _confirmed_page(confirmed)
    return _confirmed_answer(confirmed, browser=browser)


def _confirmed_page(confirmed: Confirmed):
    urls = settings()
    if not confirmed.signed_in:
        link = urls.sign_in_url and {"url": urls.sign_in_url, "label": gettext("Sign in")}
        return form_answer(
            "result.html",
            200,
            heading=gettext("You're signed up"),
            next_step=gettext("You can sign in."),
            link=link,
        )
    target = g.get("redirect_to") or urls.signed_in_url
    if target:
        return redirect(target, 303)
    return form_answer(
        "result.html",
        200,
        heading=gettext("You're signed in"),
        next_step=gettext("Your account is ready."),
    )


def _confirmed_answer(confirmed: Confirmed, *, browser: bool) -> dict[str, Any]:
    urls = settings()
    answer: dict[str, Any] = {"confirmed": True, "signed_in": confirmed.signed_in}
    if confirmed.tokens is None:
        if urls.sign_in_url:
            answer["sign_in_url"] = urls.sign_in_url
    elif browser:
        if urls.signed_in_url:
            answer["signed_in_url"] = urls.signed_in_url
    else:
        answer["tokens"] = confirmed.tokens
    return answer


@blp.post("/resend")
@blp.arguments(ResendRequestSchema(), location="body")
@form_body(ResendRequestSchema)
@blp.doc(parameters=[HEADER_DOC, LANG_PARAMETER])
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
            heading=gettext("A new code is on its way"),
            delivery=resent.code_delivery,
            next_step=gettext("Enter the new code to finish signing up."),
            username=resend.username,
        )
    return resent
