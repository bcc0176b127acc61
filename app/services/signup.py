"""Sign-up, confirmation and code re-sending: the rules between a validated form and Cognito."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app import errors
from app.attribution import ATTRIBUTION_FIELDS
from app.cognito import CodeDelivery, CognitoGateway, UserContext
from app.repository import PreviousSignup
from app.schemas import ConfirmRequest, ResendRequest, SignupRequest
from app.services.records import RecordKeeper


@dataclass(frozen=True)
class SignupPolicy:
    """What this deployment lets a client send beyond the standard fields."""

    allowed_custom_attributes: frozenset[str] = frozenset()
    client_metadata_keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Registered:
    user_confirmed: bool
    code_delivery: CodeDelivery | None


@dataclass(frozen=True)
class CodeResent:
    code_delivery: CodeDelivery | None


class SignupService:
    def __init__(
        self, gateway: CognitoGateway, policy: SignupPolicy, records: RecordKeeper
    ) -> None:
        self._gateway = gateway
        self._policy = policy
        self._records = records

    def register(
        self, signup: SignupRequest, ip_address: str | None, client_kind: str = "json"
    ) -> Registered:
        """Create an unconfirmed Cognito user; Cognito sends the confirmation code.

        The attempt is recorded before Cognito is called (a 503 if it cannot be) and settled after.
        """
        self._check_allowed(signup.attributes, signup.client_metadata)
        record_id = self._records.open(signup.username, ip_address, client_kind, signup.attribution)
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
            self._records.failed(record_id, error.error_code)
            raise
        self._records.created(record_id, result.user_sub, result.user_confirmed)
        return Registered(result.user_confirmed, result.code_delivery)

    def confirm(self, confirmation: ConfirmRequest, ip_address: str | None) -> None:
        """Confirm with the code; the sign-up's attribution reaches the post-confirmation Lambda."""
        self._check_allowed({}, confirmation.client_metadata)
        previous = self._records.previous(confirmation.username)
        try:
            self._gateway.confirm_sign_up(
                username=confirmation.username,
                code=confirmation.code,
                context=UserContext(ip_address, confirmation.encoded_data),
                client_metadata=_with_attribution(confirmation.client_metadata, previous),
            )
        except errors.AlreadyConfirmed:
            self._records.confirmed(previous)  # Cognito knows better than a stale record
            raise
        self._records.confirmed(previous)

    def resend(self, resend: ResendRequest, ip_address: str | None) -> CodeResent:
        self._check_allowed({}, resend.client_metadata)
        previous = self._records.previous(resend.username)
        delivery = self._gateway.resend_confirmation_code(
            username=resend.username,
            context=UserContext(ip_address, resend.encoded_data),
            client_metadata=_with_attribution(resend.client_metadata, previous),
        )
        return CodeResent(delivery)

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
