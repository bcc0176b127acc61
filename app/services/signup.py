"""Sign-up, confirmation and code re-sending: the rules between a validated form and Cognito.

Before a Cognito call, in this order: what a client may send (allowlists), the rules of
app/services/screening.py (honeypot, email rules, captcha, breached passwords), then the budgets
(per identity, fleet-wide, confirm attempts per username), so only a request that really goes to
Cognito spends one. Whether answers reveal that an account exists (``hide_existing_users``) is
decided here; app/cognito.py only translates Cognito's errors. A sign-up's record is opened last,
just before Cognito is called (a 503 when it cannot be), and settled with Cognito's real answer,
even when the client is told something else; an attempt a rule refused is recorded as refused.

A confirmation that brings its sign-up's handle also signs the person in (app/services/sign_in.py);
whatever stops that, the confirmation itself stands and the answer says ``signed_in: false``.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app import errors
from app.attribution import ATTRIBUTION_FIELDS
from app.cognito import AuthTokens, CodeDelivery, CognitoGateway, UserContext
from app.config import Secret
from app.identity import canonical_identity
from app.schemas import ConfirmRequest, ResendRequest, SignupRequest
from app.services.budgets import Budgets
from app.services.records import Attempt, RecordKeeper
from app.services.screening import Refused, Screening, Trips
from app.services.sign_in import SignIns
from app.storage.repository import PreviousSignup
from app.telemetry import metrics
from app.telemetry.tracing import span

logger = logging.getLogger(__name__)

# One answer for every way a confirmation can fail that would tell an account exists (or not).
HIDDEN_CODE_MESSAGE = _l(
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
    # What the client brings back to be signed in when it confirms; None with sign-in off.
    sign_in_handle: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Confirmed:
    tokens: AuthTokens | None = None  # None: confirmed, but not signed in

    @property
    def signed_in(self) -> bool:
        return self.tokens is not None


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
        screening: Screening,
        sign_ins: SignIns | None = None,
    ) -> None:
        self._gateway = gateway
        self._policy = policy
        self._budgets = budgets
        self._records = records
        self._screening = screening
        self._sign_ins = sign_ins

    def register(
        self, signup: SignupRequest, ip_address: str | None, client_kind: str = "json"
    ) -> Registered:
        """Create an unconfirmed Cognito user; Cognito sends the confirmation code."""
        with span("signup.validate"):
            self._check_allowed(signup.attributes, signup.client_metadata)
        attempt = Attempt(signup.username, ip_address, client_kind, signup.attribution)
        trips = self._screening.trips()
        try:
            self._screening.sign_up(signup, ip_address, trips)
            with span("signup.budgets"):
                self._spend_code_budgets(_identities(signup), trips)
        except Refused as refusal:
            return self._refused(signup, attempt, refusal)
        with span("signup.record.open"):
            record_id = self._records.open(attempt, trips.shadowed)
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
            return self._pretended(signup)
        with span("signup.record.settle"):
            self._records.created(record_id, result.user_sub, result.user_confirmed)
        return Registered(
            result.user_confirmed, result.code_delivery, self._handle(signup, result.session)
        )

    def _refused(self, signup: SignupRequest, attempt: Attempt, refusal: Refused) -> Registered:
        """Record the refusal, then answer it: with its error, or as a sign-up (the honeypot)."""
        error = refusal.error
        with span("signup.record.open"):
            self._records.refused(
                attempt, refusal.rule, error and error.error_code, refusal.shadowed
            )
        if error is not None:
            raise error from None
        logger.info("Honeypot filled on /register: answered as a sign-up, Cognito not called")
        return self._pretended(signup)

    def _spend_code_budgets(self, identities: set[str], trips: Trips) -> None:
        """The budgets of a request that sends a code, the identity budget in its rule's mode."""
        try:
            exceeded = self._budgets.before_code_sent(identities, trips.mode("identity_budget"))
        except errors.RateLimited as error:
            if error.limit_name == "identity":
                trips.trip("identity_budget", error)
            raise
        if exceeded:
            trips.trip("identity_budget", None)

    def _pretended(self, signup: SignupRequest) -> Registered:
        """The answer a sign-up that reached no new account gets: like any other, handle too."""
        return Registered(False, pretend_delivery(signup.attributes), self._handle(signup, None))

    def _handle(self, signup: SignupRequest, session: Secret | None) -> str | None:
        if self._sign_ins is None:
            return None
        return self._sign_ins.begin(signup.username, session)

    def confirm(
        self,
        confirmation: ConfirmRequest,
        ip_address: str | None,
        sign_in_handle: str | None = None,
    ) -> Confirmed:
        """Confirm with the code; the sign-up's attribution reaches the post-confirmation Lambda.

        With the handle its sign-up gave this client, the person is signed in as well.
        """
        sign_ins = self._sign_ins if sign_in_handle is not None else None
        with span("signup.validate"):
            self._check_allowed({}, confirmation.client_metadata)
            if sign_ins is not None:
                sign_ins.check(sign_in_handle)
        with span("signup.budgets"):
            self._budgets.before_confirm(canonical_identity(confirmation.username))
        with span("signup.record.lookup"):
            previous = self._records.previous(confirmation.username)
        session = sign_ins and sign_ins.take(sign_in_handle, confirmation.username)
        context = UserContext(ip_address, confirmation.encoded_data)
        client_metadata = _with_attribution(confirmation.client_metadata, previous)
        try:
            next_session, missing = self._confirm_sign_up(
                confirmation, context, client_metadata, session
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
        if self._sign_ins is None:
            return Confirmed()
        if next_session is None:
            metrics.count_sign_in("no_handle" if sign_in_handle is None else missing)
            return Confirmed()
        return Confirmed(
            self._sign_in(confirmation.username, next_session, context, client_metadata, previous)
        )

    def _confirm_sign_up(
        self,
        confirmation: ConfirmRequest,
        context: UserContext,
        client_metadata: dict[str, str],
        session: Secret | None,
    ) -> tuple[Secret | None, str]:
        """ConfirmSignUp, with the sign-up's Session when there is one; once more without it
        when Cognito refuses the Session, since the code alone still confirms.

        Returns the Session that signs the person in, or None and why there is none.
        """
        confirm = functools.partial(
            self._gateway.confirm_sign_up,
            username=confirmation.username,
            code=confirmation.code,
            context=context,
            client_metadata=client_metadata,
        )
        try:
            return confirm(session=session), "no_session"
        except errors.SessionRefused:
            logger.info("Cognito refused the sign-up's Session: confirming without it")
            confirm(session=None)
            return None, "session_refused"

    def _sign_in(
        self,
        username: str,
        session: Secret,
        context: UserContext,
        client_metadata: dict[str, str],
        previous: PreviousSignup | None,
    ) -> AuthTokens | None:
        """InitiateAuth with the confirmation's Session; None, and counted, when it fails."""
        try:
            with span("signup.sign_in"):
                tokens = self._gateway.sign_in_with_session(
                    username=username,
                    session=session,
                    context=context,
                    client_metadata=client_metadata,
                )
        except errors.APIError as error:
            logger.info("Confirmed but not signed in: %s", error.error_code)
            metrics.count_sign_in(error.error_code)
            return None
        metrics.count_sign_in("signed_in")
        with span("signup.record.settle"):
            self._records.signed_in(previous)
        return tokens

    def resend(self, resend: ResendRequest, ip_address: str | None) -> CodeResent:
        with span("signup.validate"):
            self._check_allowed({}, resend.client_metadata)
        # Hiding: where a code went is derived from the username alone, for accounts that exist
        # and accounts that do not, since Cognito's answer differs between the two.
        pretended = CodeResent(pretend_delivery_to_username(resend.username))
        trips = self._screening.trips()
        try:
            if resend.honeypot_filled:
                trips.trip("honeypot", None)
            with span("signup.budgets"):
                self._spend_code_budgets({canonical_identity(resend.username)}, trips)
        except Refused as refusal:
            if refusal.error is not None:
                raise refusal.error from None
            logger.info("Honeypot filled on /register/resend: answered as sent, Cognito not called")
            return pretended
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

    def _check_allowed(
        self, attributes: Mapping[str, str], client_metadata: Mapping[str, str]
    ) -> None:
        problems = {
            f"attributes.{name}": [gettext("This attribute is not accepted.")]
            for name in attributes
            if name.startswith("custom:") and name not in self._policy.allowed_custom_attributes
        }
        problems.update(
            (f"client_metadata.{key}", [gettext("This key is not accepted.")])
            for key in client_metadata
            if key not in self._policy.client_metadata_keys
        )
        # Attribution travels in its own validated fields, so the record and the Lambdas agree.
        problems.update(
            (
                f"client_metadata.{key}",
                [gettext("Send this as the %(field)s field of the sign-up.", field=key)],
            )
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
    identities = {canonical_identity(signup.username)}
    for attribute in ("email", "phone_number"):
        if signup.attributes.get(attribute):
            identities.add(canonical_identity(signup.attributes[attribute]))
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
