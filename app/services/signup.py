"""Sign-up, confirmation and code re-sending: the rules between a validated form and Cognito."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app import errors
from app.cognito import CodeDelivery, CognitoGateway, UserContext
from app.schemas import ConfirmRequest, ResendRequest, SignupRequest


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
    def __init__(self, gateway: CognitoGateway, policy: SignupPolicy) -> None:
        self._gateway = gateway
        self._policy = policy

    def register(self, signup: SignupRequest, ip_address: str | None) -> Registered:
        """Create an unconfirmed Cognito user; Cognito sends the confirmation code."""
        self._check_allowed(signup.attributes, signup.client_metadata)
        result = self._gateway.sign_up(
            username=signup.username,
            password=signup.password,
            attributes=signup.attributes,
            validation_data=signup.validation_data,
            client_metadata=signup.client_metadata,
            analytics_endpoint_id=signup.analytics_endpoint_id,
            context=UserContext(ip_address, signup.encoded_data),
        )
        return Registered(result.user_confirmed, result.code_delivery)

    def confirm(self, confirmation: ConfirmRequest, ip_address: str | None) -> None:
        self._check_allowed({}, confirmation.client_metadata)
        self._gateway.confirm_sign_up(
            username=confirmation.username,
            code=confirmation.code,
            context=UserContext(ip_address, confirmation.encoded_data),
            client_metadata=confirmation.client_metadata,
        )

    def resend(self, resend: ResendRequest, ip_address: str | None) -> CodeResent:
        self._check_allowed({}, resend.client_metadata)
        delivery = self._gateway.resend_confirmation_code(
            username=resend.username,
            context=UserContext(ip_address, resend.encoded_data),
            client_metadata=resend.client_metadata,
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
        if problems:
            raise errors.InvalidFields(fields=problems)
