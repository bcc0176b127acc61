"""Sign-up, confirmation and code re-sending: the rules between a validated form and Cognito.

Before a Cognito call, in this order: what a client may send (allowlists), the honeypot, the
captcha, then the budgets (per identity, fleet-wide, confirm attempts per username), so only a
request that really goes to Cognito spends one. Whether answers reveal that an account exists
(``hide_existing_users``) is decided here; app/cognito.py only translates Cognito's errors.
A sign-up's record is opened last, just before Cognito is called (a 503 when it cannot be), and
settled with Cognito's real answer, even when the client is told something else.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from app import errors
from app.attribution import ATTRIBUTION_FIELDS
from app.captcha import CaptchaVerifier, Verdict
from app.cognito import CodeDelivery, CognitoGateway, UserContext
from app.schemas import ConfirmRequest, ResendRequest, SignupRequest
from app.services.budgets import Budgets
from app.services.records import RecordKeeper, normalised_identity
from app.storage.repository import PreviousSignup
from app.telemetry.tracing import span

logger = logging.getLogger(__name__)

CAPTCHA_RETRY_AFTER_SECONDS = 5
# One answer for every way a confirmation can fail that would tell an account exists (or not).
HIDDEN_CODE_MESSAGE = (
    "This code is not valid: it may be mistyped or expired. Ask for a new code, "
    "or sign in if your account is already confirmed."
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+\d{4,15}$")


@dataclass(frozen=True)
class SignupPolicy:
    """What this deployment lets a client send beyond the standard fields, and what it reveals."""

    allowed_custom_attributes: frozenset[str] = frozenset()
    client_metadata_keys: frozenset[str] = frozenset()
    hide_existing_users: bool = True


@dataclass(frozen=True)
class Registered:
    user_confirmed: bool
    code_delivery: CodeDelivery | None


@dataclass(frozen=True)
class CodeResent:
    code_delivery: CodeDelivery | None


class SignupService:
    def __init__(
        self,
        gateway: CognitoGateway,
        policy: SignupPolicy,
        *,
        budgets: Budgets,
        records: RecordKeeper,
        captcha: CaptchaVerifier | None = None,
    ) -> None:
        self._gateway = gateway
        self._policy = policy
        self._budgets = budgets
        self._records = records
        self._captcha = captcha

    def register(
        self, signup: SignupRequest, ip_address: str | None, client_kind: str = "json"
    ) -> Registered:
        """Create an unconfirmed Cognito user; Cognito sends the confirmation code."""
        with span("signup.validate"):
            self._check_allowed(signup.attributes, signup.client_metadata)
        if signup.honeypot_filled:
            logger.info("Honeypot filled on /register: answered as a sign-up, Cognito not called")
            return Registered(False, pretend_delivery(signup.attributes))
        self._check_captcha(signup, ip_address)
        with span("signup.budgets"):
            self._budgets.before_code_sent(_identities(signup))
        with span("signup.record.open"):
            record_id = self._records.open(
                signup.username, ip_address, client_kind, signup.attribution
            )
        try:
            result = self._gateway.sign_up(
                username=signup.username,
                password=signup.password,
                attributes=signup.attributes,
                validation_data=signup.validation_data,
                client_metadata={**signup.client_metadata, **signup.attribution.as_metadata()},
                analytics_endpoint_id=signup.analytics_endpoint_id,
                context=UserContext(ip_address, signup.encoded_data),
            )
        except errors.APIError as error:
            with span("signup.record.settle"):
                self._records.failed(record_id, error.error_code)
            if not (isinstance(error, errors.UsernameTaken) and self._policy.hide_existing_users):
                raise
            logger.info("Sign-up for an existing username answered as a fresh one")
            return Registered(False, pretend_delivery(signup.attributes))
        with span("signup.record.settle"):
            self._records.created(record_id, result.user_sub, result.user_confirmed)
        return Registered(result.user_confirmed, result.code_delivery)

    def confirm(self, confirmation: ConfirmRequest, ip_address: str | None) -> None:
        """Confirm with the code; the sign-up's attribution reaches the post-confirmation Lambda."""
        with span("signup.validate"):
            self._check_allowed({}, confirmation.client_metadata)
        with span("signup.budgets"):
            self._budgets.before_confirm(normalised_identity(confirmation.username))
        with span("signup.record.lookup"):
            previous = self._records.previous(confirmation.username)
        try:
            self._gateway.confirm_sign_up(
                username=confirmation.username,
                code=confirmation.code,
                context=UserContext(ip_address, confirmation.encoded_data),
                client_metadata=_with_attribution(confirmation.client_metadata, previous),
            )
        except (
            errors.CodeMismatch,
            errors.CodeExpired,
            errors.UserNotFound,
            errors.AlreadyConfirmed,
        ) as error:
            if isinstance(error, errors.AlreadyConfirmed):
                with span("signup.record.settle"):
                    self._records.confirmed(previous)  # Cognito knows better than a stale record
            if not self._policy.hide_existing_users:
                raise
            raise errors.CodeMismatch(
                HIDDEN_CODE_MESSAGE, fields={"code": [HIDDEN_CODE_MESSAGE]}
            ) from None
        with span("signup.record.settle"):
            self._records.confirmed(previous)

    def resend(self, resend: ResendRequest, ip_address: str | None) -> CodeResent:
        with span("signup.validate"):
            self._check_allowed({}, resend.client_metadata)
        # Hiding: where a code went is derived from the username alone, for accounts that exist
        # and accounts that do not, since Cognito's answer differs between the two.
        pretended = CodeResent(pretend_delivery_to_username(resend.username))
        if resend.honeypot_filled:
            logger.info("Honeypot filled on /register/resend: answered as sent, Cognito not called")
            return pretended
        with span("signup.budgets"):
            self._budgets.before_code_sent([normalised_identity(resend.username)])
        with span("signup.record.lookup"):
            previous = self._records.previous(resend.username)
        try:
            delivery = self._gateway.resend_confirmation_code(
                username=resend.username,
                context=UserContext(ip_address, resend.encoded_data),
                client_metadata=_with_attribution(resend.client_metadata, previous),
            )
        except (errors.UserNotFound, errors.AlreadyConfirmed):
            if not self._policy.hide_existing_users:
                raise
            logger.info("Resend for an unknown or confirmed username answered as sent")
            return pretended
        return pretended if self._policy.hide_existing_users else CodeResent(delivery)

    def _check_captcha(self, signup: SignupRequest, ip_address: str | None) -> None:
        if self._captcha is None:
            return
        field = signup.captcha_field
        if not signup.captcha_token:
            raise errors.CaptchaFailed(fields={field: ["Complete the captcha."]})
        with span("signup.captcha", {"signup.captcha.provider": self._captcha.provider}):
            verdict = self._captcha.verify(signup.captcha_token, ip_address)
        if verdict is Verdict.PASSED:
            return
        if verdict is Verdict.REJECTED:
            raise errors.CaptchaFailed(fields={field: [errors.CaptchaFailed.description]})
        if self._captcha.fail_open:
            logger.warning("Captcha provider unavailable: sign-up let through (fail-open policy)")
            return
        raise errors.CaptchaUnavailable(retry_after=CAPTCHA_RETRY_AFTER_SECONDS)

    def _check_allowed(
        self, attributes: Mapping[str, str], client_metadata: Mapping[str, str]
    ) -> None:
        problems = {
            f"attributes.{name}": ["This attribute is not accepted."]
            for name in attributes
            if name.startswith("custom:") and name not in self._policy.allowed_custom_attributes
        }
        problems.update(
            (f"client_metadata.{key}", ["This key is not accepted."])
            for key in client_metadata
            if key not in self._policy.client_metadata_keys
        )
        # Attribution travels in its own validated fields, so the record and the Lambdas agree.
        problems.update(
            (f"client_metadata.{key}", [f"Send this as the {key} field of the sign-up."])
            for key in client_metadata
            if key in ATTRIBUTION_FIELDS
        )
        if problems:
            raise errors.InvalidFields(fields=problems)


def _with_attribution(
    client_metadata: Mapping[str, str], previous: PreviousSignup | None
) -> dict[str, str]:
    attribution = previous.attribution.as_metadata() if previous else {}
    return {**client_metadata, **attribution}


def _identities(signup: SignupRequest) -> set[str]:
    """Everything a sign-up can send a code to or be re-sent under, for the identity budget."""
    identities = {normalised_identity(signup.username)}
    for attribute in ("email", "phone_number"):
        if signup.attributes.get(attribute):
            identities.add(normalised_identity(signup.attributes[attribute]))
    return identities


def pretend_delivery(attributes: Mapping[str, str]) -> CodeDelivery | None:
    """Where Cognito would say it sent a code for these attributes, masked as Cognito masks it.

    Email first, then SMS, as a pool that verifies email does.
    """
    email = attributes.get("email")
    if email:
        return _masked_email(email)
    phone = attributes.get("phone_number")
    if phone:
        return _masked_phone(phone)
    return None


def pretend_delivery_to_username(username: str) -> CodeDelivery | None:
    """The delivery a username alone implies: itself when it is an email address or phone number."""
    if _EMAIL.match(username):
        return _masked_email(username)
    if _PHONE.match(username):
        return _masked_phone(username)
    return None


def _masked_email(email: str) -> CodeDelivery:
    local, _, domain = email.partition("@")
    return CodeDelivery(f"{local[:1]}***@{domain[:1]}***", "EMAIL", "email")


def _masked_phone(phone: str) -> CodeDelivery:
    return CodeDelivery(f"+{'*' * max(len(phone) - 5, 0)}{phone[-4:]}", "SMS", "phone_number")
