"""The service's error types and the one JSON error shape every failure is rendered in.

Every error is an ``HTTPException`` subclass, so Flask, flask-smorest and our own code raise and
catch them the same way. Clients always receive::

    {"status": 422, "code": "invalid_fields", "message": "...", "fields": {"email": ["..."]}}

``fields`` maps a request field to messages a form can show next to it; it is ``{}`` when the error
is not about a particular field.

``message`` and ``fields`` are in the request's language (app/api/i18n.py): the descriptions are
``lazy_gettext``, read when the body is built; ``code`` is the same in every language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flask import g, has_request_context
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

FieldErrors = Mapping[str, Sequence[str]]


class APIError(HTTPException):
    """Base for every error the API answers with on purpose."""

    code = 500
    error_code = "internal_error"
    description = _l("Something went wrong on our side. Please try again.")

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: FieldErrors | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message or self.description)
        self.fields = {name: list(messages) for name, messages in (fields or {}).items()}
        self.retry_after = retry_after


class MalformedBody(APIError):
    code = 400
    error_code = "malformed_body"
    description = _l("The request body could not be read.")


class JsonSentAsForm(MalformedBody):
    """A JSON document labelled as a form: what ``curl -d '{...}'`` sends."""

    description = _l("This looks like JSON: send it with Content-Type: application/json.")


class TooManyFields(APIError):
    """A body within the byte limit but with far more members than any sign-up has."""

    code = 413
    error_code = "request_entity_too_large"
    description = _l("The request has too many fields.")


class UnsupportedContentType(APIError):
    code = 415
    error_code = "unsupported_media_type"
    description = _l("Send the body as application/json or application/x-www-form-urlencoded.")


class MissingContentType(UnsupportedContentType):
    """A body with no Content-Type header at all."""

    description = _l(
        "The request has a body but no Content-Type: send JSON with "
        "Content-Type: application/json, or a form with "
        "Content-Type: application/x-www-form-urlencoded."
    )


class InvalidFields(APIError):
    """Input that breaks a rule; ``fields`` names each offending field."""

    code = 422
    error_code = "invalid_fields"
    description = _l("Some fields are not valid.")


class CodeMismatch(InvalidFields):
    error_code = "code_mismatch"
    description = _l("The confirmation code is not correct.")


class CodeExpired(InvalidFields):
    error_code = "code_expired"
    description = _l("The confirmation code has expired. Ask for a new one.")


class InvalidSignInHandle(InvalidFields):
    """A sign-in handle we did not issue, or issued longer ago than any code stays valid."""

    error_code = "invalid_sign_in_handle"
    description = _l(
        "This sign-in handle is not valid or has expired. Confirm without it, then sign in."
    )


class SignupRejected(InvalidFields):
    error_code = "signup_rejected"
    description = _l("The sign-up was rejected.")


class UsernameTaken(APIError):
    code = 409
    error_code = "username_exists"
    description = _l("An account with this username already exists.")


class AlreadyConfirmed(APIError):
    code = 409
    error_code = "already_confirmed"
    description = _l("This account is already confirmed.")


class UserNotFound(APIError):
    code = 404
    error_code = "user_not_found"
    description = _l("No account is waiting for confirmation under this username.")


class TooManyAttempts(APIError):
    code = 429
    error_code = "too_many_attempts"
    description = _l("Too many attempts. Wait a while before trying again.")


class Forbidden(APIError):
    code = 403
    error_code = "forbidden"
    description = _l("The request was refused.")


class CrossOriginForm(Forbidden):
    """A browser posted a form from a page on an origin that is not ours or allowlisted."""

    error_code = "cross_origin_form"
    description = _l("This form can only be sent from this site or one of its landing pages.")


class SignInNotCompleted(APIError):
    """Confirmed, but Cognito did not sign the person in. Never an answer of its own: the
    confirmation succeeds with ``signed_in: false`` and this error's code is counted."""

    code = 401
    error_code = "sign_in_not_completed"
    description = _l("You are signed up. Please sign in.")


class SessionRefused(SignInNotCompleted):
    """Cognito refused the sign-up's Session: expired, used already, or not this user's."""

    error_code = "session_refused"


class SignInChallenged(SignInNotCompleted):
    """Cognito asked for another step (MFA, a new password): the sign-in page takes over."""

    error_code = "sign_in_challenged"


class UpstreamError(APIError):
    """The identity provider failed or refused us; nothing the client can fix."""

    code = 502
    error_code = "upstream_error"
    description = _l("The identity provider failed. Please try again later.")


class CodeDeliveryFailed(UpstreamError):
    error_code = "code_delivery_failed"
    description = _l(
        "The account may have been created, but the confirmation code could not be sent. "
        "Ask for a new code in a few minutes."
    )


class UpstreamUnavailable(APIError):
    code = 503
    error_code = "upstream_unavailable"
    description = _l("The identity provider cannot be reached. Please try again shortly.")


class NotConfigured(UpstreamUnavailable):
    """No user pool (no COGNITO_* settings): said in the log when a sign-up meets it, not at
    start, where CLI commands build the app without one and need none."""

    error_code = "not_configured"
    description = _l("Sign-ups are not available right now.")
    log_message = "No COGNITO_* settings: sign-ups are refused (503 not_configured)"


class StorageUnavailable(APIError):
    """The service's own database cannot be written: refused before Cognito is called."""

    code = 503
    error_code = "storage_unavailable"
    description = _l("Sign-ups are paused for a moment. Please try again shortly.")


class IdempotencyKeyReused(APIError):
    code = 422
    error_code = "idempotency_key_reused"
    description = _l("This Idempotency-Key was already used for a different request.")


class IdempotencyInProgress(APIError):
    code = 409
    error_code = "idempotency_in_progress"
    description = _l("A request with this Idempotency-Key is still in progress. Retry shortly.")


class UpstreamThrottled(UpstreamUnavailable):
    error_code = "upstream_throttled"
    description = _l("The service is busy. Please try again shortly.")


class CodeDeliveryLimited(UpstreamUnavailable):
    error_code = "code_delivery_limited"
    description = _l(
        "The account may have been created, but no confirmation code could be sent right now. "
        "Ask for a new code later."
    )


class RateLimited(APIError):
    """A rate limit refused the request: it carries that limit's X-RateLimit-* headers.

    ``limit_name`` (per_ip, identity, confirm) says which limit, for logs and metrics; clients
    see one code whichever it was, and the message says how long to wait.
    """

    code = 429
    error_code = "rate_limited"
    description = _l("Too many requests.")

    def __init__(
        self,
        reason: str | None = None,
        *,
        limit_name: str,
        limit: int,
        reset_at: int,
        retry_after: int,
    ) -> None:
        message = gettext(
            "%(reason)s Try again in %(wait)s.",
            reason=reason or self.description,
            wait=wait_phrase(retry_after),
        )
        super().__init__(message, retry_after=retry_after)
        self.limit_name = limit_name
        self.limit = limit
        self.reset_at = reset_at

    def get_headers(
        self, environ: WSGIEnvironment | None = None, scope: dict[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        return [
            *super().get_headers(environ, scope),
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", str(self.reset_at)),
        ]


def wait_phrase(seconds: int) -> str:
    """A person's reading of a Retry-After value."""
    if seconds < 90:
        return ngettext("%(num)d second", "%(num)d seconds", seconds)
    minutes = round(seconds / 60)
    if minutes < 90:
        return ngettext("%(num)d minute", "%(num)d minutes", minutes)
    hours = round(minutes / 60)
    return ngettext("%(num)d hour", "%(num)d hours", hours)


class SignupsBusy(APIError):
    """Our own cap on calls to Cognito was reached: nothing this client did wrong."""

    code = 503
    error_code = "busy"
    description = _l("Sign-ups are very busy right now. Please try again in a moment.")


class RateLimitsUnavailable(APIError):
    """The shared rate-limit storage cannot be reached; we refuse rather than go unguarded."""

    code = 503
    error_code = "temporarily_unavailable"
    description = _l("Sign-ups are briefly unavailable. Please try again shortly.")


class CaptchaFailed(InvalidFields):
    error_code = "captcha_failed"
    description = _l("The captcha check failed. Please complete it again.")


class CaptchaUnavailable(APIError):
    code = 503
    error_code = "captcha_unavailable"
    description = _l("The captcha check is unavailable right now. Please try again shortly.")


class BreachedPassword(InvalidFields):
    """The password is in the Pwned Passwords corpus: attackers try such passwords first."""

    error_code = "breached_password"
    description = _l(
        "This password has appeared in a data breach, so it is among the first ones attackers "
        "try. Choose another one."
    )


class PasswordCheckUnavailable(APIError):
    """The range API gave no verdict and SIGNUP_BREACHED_PASSWORD_ON_OUTAGE is closed."""

    code = 503
    error_code = "password_check_unavailable"
    description = _l("The password check is unavailable right now. Please try again shortly.")


class DisposableEmail(InvalidFields):
    error_code = "disposable_email"
    description = _l("This email domain gives out throwaway addresses. Use an address you keep.")


class EmailDomainNotAllowed(InvalidFields):
    """The domain is not on SIGNUP_EMAIL_DOMAINS_ALLOWED."""

    error_code = "email_domain_not_allowed"
    description = _l("Sign-ups here need an email address at one of the accepted domains.")


class EmailDomainDenied(InvalidFields):
    """The domain is on SIGNUP_EMAIL_DOMAINS_DENIED."""

    error_code = "email_domain_denied"
    description = _l("Sign-ups with an email address at this domain are not accepted.")


class EmailSubaddress(InvalidFields):
    error_code = "email_subaddress"
    description = _l("Use your email address without the +tag part.")


class AdminUnauthorized(APIError):
    """No report token, or the wrong one: the browser is asked for it (Basic, password only)."""

    code = 401
    error_code = "unauthorized"
    description = _l("This page needs the report token (SIGNUP_REPORT_TOKEN).")

    def get_headers(
        self, environ: WSGIEnvironment | None = None, scope: dict[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        return [
            *super().get_headers(environ, scope),
            ("WWW-Authenticate", 'Basic realm="signup report", charset="UTF-8"'),
        ]


class UpstreamTimeout(APIError):
    code = 504
    error_code = "upstream_timeout"
    description = _l("The identity provider did not answer in time. Please try again.")


# Our words for the errors werkzeug (routing, the body's size) and gunicorn raise themselves,
# in place of werkzeug's descriptions.
def _n(message: str) -> str:
    """Marks ``message`` for the catalogs where it is defined; ``_read`` translates it."""
    return message


# werkzeug's own errors (and gunicorn's refusals, answered outside any request), in our words.
HTTP_MESSAGES = {
    400: _n("The request could not be read."),
    404: _n("There is nothing at this address."),
    405: _n("This address does not accept this method."),
    413: _n("The request is too large."),
    414: _n("The address is too long."),
    431: _n("The request's headers are too large."),
}
HTTP_MESSAGE = _n("The request could not be answered.")
SERVER_MESSAGE = _n("Something went wrong on our side. Please try again.")


def _read(message: str) -> str:
    """``message`` in the request's language; English where there is no request (gunicorn)."""
    return gettext(message) if has_request_context() else message


def error_body(error: HTTPException) -> dict[str, object]:
    """The one JSON shape; werkzeug's own errors get a code derived from their name."""
    if isinstance(error, APIError):
        return {
            "status": error.code,
            "code": error.error_code,
            # Messages may be lazy (translated when read): read here, in the request's language.
            "message": str(error.description),
            "fields": {
                name: [str(message) for message in messages]
                for name, messages in error.fields.items()
            },
        }
    status = error.code or 500
    return {
        "status": status,
        "code": (error.name or "error").lower().replace(" ", "_"),
        "message": _read(
            HTTP_MESSAGES.get(status, SERVER_MESSAGE if status >= 500 else HTTP_MESSAGE)
        ),
        "fields": {},
    }


def current_error() -> HTTPException | None:
    """The error this request is being answered with, for logs and metrics; None on success."""
    return g.get("error")
