"""The Cognito gateway: the boto3 client, SECRET_HASH, and the translation of botocore's errors.

botocore is imported here and nowhere else. Every Cognito failure leaves this module as one of the
``app.errors`` types, so views and services only ever see the service's own vocabulary.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from app import errors
from app.config import CognitoSettings, Secret, Settings
from app.telemetry import metrics

logger = logging.getLogger(__name__)


class PoolUnavailable(RuntimeError):
    """The user pool's public endpoint answered with an error: wrong pool, region or outage."""


class DirectoryUnavailable(RuntimeError):
    """ListUsers failed: no credentials, no permission, or Cognito unreachable."""


@dataclass(frozen=True)
class PoolUser:
    """A user as ListUsers shows it: what reconciliation matches signup records against."""

    username: str
    sub: str
    email: str | None
    phone_number: str | None
    created_at: datetime
    modified_at: datetime
    confirmed: bool

    @classmethod
    def from_cognito(cls, user: Mapping[str, Any]) -> PoolUser:
        attributes = {item["Name"]: item.get("Value") for item in user.get("Attributes", [])}
        return cls(
            username=user["Username"],
            sub=attributes.get("sub") or "",
            email=attributes.get("email"),
            phone_number=attributes.get("phone_number"),
            created_at=user["UserCreateDate"].astimezone(UTC),
            modified_at=user["UserLastModifiedDate"].astimezone(UTC),
            confirmed=user.get("UserStatus") == "CONFIRMED",
        )


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    """Base64(HMAC-SHA256(key=client secret, message=username + client id)), as Cognito defines it.

    ``username`` must be exactly the Username sent in the same call.
    """
    digest = hmac.new(
        client_secret.encode("utf-8"),
        (username + client_id).encode("utf-8"),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class UserContext:
    """What Cognito's advanced security learns about the person behind a request."""

    ip_address: str | None = None
    encoded_data: str | None = None

    def as_cognito(self) -> dict[str, str]:
        data = {"IpAddress": self.ip_address, "EncodedData": self.encoded_data}
        return {key: value for key, value in data.items() if value}


@dataclass(frozen=True)
class CodeDelivery:
    """Where Cognito sent a confirmation code; ``destination`` arrives already masked."""

    destination: str | None
    medium: str | None
    attribute: str | None

    @classmethod
    def from_cognito(cls, details: Mapping[str, str] | None) -> CodeDelivery | None:
        if not details:
            return None
        return cls(
            destination=details.get("Destination"),
            medium=details.get("DeliveryMedium"),
            attribute=details.get("AttributeName"),
        )


@dataclass(frozen=True)
class SignUpResult:
    user_confirmed: bool
    user_sub: str
    code_delivery: CodeDelivery | None
    # What ConfirmSignUp and then InitiateAuth (USER_AUTH) take to sign the person in without
    # a password; None from app clients without the USER_AUTH flow.
    session: Secret | None = None


@dataclass(frozen=True)
class AuthTokens:
    """Cognito's AuthenticationResult. The tokens are secrets: out of every repr and log."""

    access_token: str = field(repr=False)
    id_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    token_type: str

    @classmethod
    def from_cognito(cls, result: Mapping[str, Any]) -> AuthTokens:
        return cls(
            access_token=result["AccessToken"],
            id_token=result["IdToken"],
            refresh_token=result.get("RefreshToken", ""),
            expires_in=int(result.get("ExpiresIn", 3600)),
            token_type=result.get("TokenType", "Bearer"),
        )


# Cognito's policy messages ("Password did not conform with policy: Password must have symbol
# characters") become our own words: a client sees what to change, never upstream text.
_PASSWORD_RULES = (
    (re.compile(r"long enough|length", re.I), _l("Use a longer password.")),
    (re.compile(r"uppercase", re.I), _l("Add an uppercase letter.")),
    (re.compile(r"lowercase", re.I), _l("Add a lowercase letter.")),
    (re.compile(r"numeric|number", re.I), _l("Add a number.")),
    (re.compile(r"symbol", re.I), _l("Add a symbol, such as ! or %.")),
    (re.compile(r"reuse|previous", re.I), _l("Choose a password you have not used before.")),
)
_POLICY_FALLBACK_HINT = _l("This password does not meet the password policy.")

# Errors that mean our deployment is wrong (bad client id, secret, pool or roles): the user can do
# nothing about them, the operator must, so they are logged loudly and answered with a 502.
_MISCONFIGURATION = frozenset(
    {
        "NotAuthorizedException",
        "ResourceNotFoundException",
        "InvalidSmsRoleAccessPolicyException",
        "InvalidSmsRoleTrustRelationshipException",
        "InvalidEmailRoleAccessPolicyException",
        "OperationNotEnabledException",
        "UnexpectedLambdaException",
        "InvalidLambdaResponseException",
        "InvalidUserPoolConfigurationException",
    }
)

# How long a client should wait after Cognito throttled us. Cognito sends no Retry-After of its
# own; one second matches botocore's throttling back-off base.
THROTTLE_RETRY_AFTER_SECONDS = 1
QUOTA_RETRY_AFTER_SECONDS = 60

# The error codes Cognito's sign-up calls answer with (docs/cognito.md): metrics label these by
# name and everything else (a proxy's HTML page, a code from a future API version) as "other".
KNOWN_ERROR_CODES = frozenset(
    {
        "UsernameExistsException",
        "InvalidPasswordException",
        "InvalidParameterException",
        "CodeDeliveryFailureException",
        "TooManyRequestsException",
        "LimitExceededException",
        "UserLambdaValidationException",
        "ForbiddenException",
        "InternalErrorException",
        "CodeMismatchException",
        "ExpiredCodeException",
        "TooManyFailedAttemptsException",
        "AliasExistsException",
        "UserNotFoundException",
        # InitiateAuth's, after confirmation: each only means the person is not signed in.
        "UserNotConfirmedException",
        "PasswordResetRequiredException",
        "UnsupportedOperationException",
        "FeatureUnavailableInTierException",
    }
    | _MISCONFIGURATION
)


def password_messages(cognito_message: str) -> list[str]:
    """Readable hints for an InvalidPassword message, one per policy rule it mentions."""
    hints = [str(hint) for pattern, hint in _PASSWORD_RULES if pattern.search(cognito_message)]
    return hints or [str(_POLICY_FALLBACK_HINT)]


@dataclass(frozen=True)
class _Refusal:
    """A Cognito error answer, as the translations below read it."""

    operation: str
    code: str
    message: str
    sent_fields: Mapping[str, str]  # our request field -> the Cognito attribute sent for it


def _on_field(error_type: type[errors.APIError], field: str) -> errors.APIError:
    return error_type(fields={field: [error_type.description]})


def _alias_exists(_refusal: _Refusal) -> errors.APIError:
    message = gettext("Another account already uses this email address or phone number.")
    return errors.UsernameTaken(message, fields={"email": [message]})


def _limit_exceeded(refusal: _Refusal) -> errors.APIError:
    if refusal.operation == "SignUp":
        # The email/SMS quota can run out after the user was created: the account may exist.
        return errors.CodeDeliveryLimited(retry_after=QUOTA_RETRY_AFTER_SECONDS)
    return errors.UpstreamThrottled(retry_after=QUOTA_RETRY_AFTER_SECONDS)


def _invalid_parameter(refusal: _Refusal) -> errors.APIError:
    """On the fields whose attribute Cognito's message names, when it names any."""
    named = [
        field
        for field, attribute in refusal.sent_fields.items()
        if re.search(rf"(?<![\w:]){re.escape(attribute)}(?![\w:])", refusal.message)
    ]
    return errors.InvalidFields(
        fields={field: [gettext("The user pool does not accept this value.")] for field in named}
    )


def _misconfigured(refusal: _Refusal) -> errors.APIError:
    # Only the code: Cognito's messages can echo request values, passwords included.
    logger.error(
        "Cognito refused %s with %s: check the COGNITO_* settings, the app client "
        "and the user pool",
        refusal.operation,
        refusal.code,
    )
    return errors.UpstreamError()


def _unknown(refusal: _Refusal) -> errors.APIError:
    logger.error("Cognito %s failed with %s", refusal.operation, refusal.code or "an unknown error")
    return errors.UpstreamError()


# Cognito's error code -> the service's answer. Codes not listed: _MISCONFIGURATION's are the
# operator's to fix, anything else is an upstream failure; both a 502.
_TRANSLATIONS: dict[str, Callable[[_Refusal], errors.APIError]] = {
    "UsernameExistsException": lambda _: _on_field(errors.UsernameTaken, "username"),
    "AliasExistsException": _alias_exists,
    "InvalidPasswordException": lambda refusal: errors.InvalidFields(
        fields={"password": password_messages(refusal.message)}
    ),
    "CodeMismatchException": lambda _: _on_field(errors.CodeMismatch, "code"),
    "ExpiredCodeException": lambda _: _on_field(errors.CodeExpired, "code"),
    "UserNotFoundException": lambda _: _on_field(errors.UserNotFound, "username"),
    "TooManyFailedAttemptsException": lambda _: errors.TooManyAttempts(
        retry_after=QUOTA_RETRY_AFTER_SECONDS
    ),
    "UserLambdaValidationException": lambda _: errors.SignupRejected(),
    "ForbiddenException": lambda _: errors.Forbidden(),
    "TooManyRequestsException": lambda _: errors.UpstreamThrottled(
        retry_after=THROTTLE_RETRY_AFTER_SECONDS
    ),
    "LimitExceededException": _limit_exceeded,
    "CodeDeliveryFailureException": lambda _: errors.CodeDeliveryFailed(),
    "InvalidParameterException": _invalid_parameter,
}


def translate_client_error(
    operation: str, error: ClientError, sent_fields: Mapping[str, str]
) -> errors.APIError:
    """The service's answer to a Cognito error response.

    ``sent_fields`` maps our request field names to the Cognito attribute names we sent, so an
    InvalidParameter that mentions one of them can be reported on that field.
    """
    details = error.response.get("Error", {})
    refusal = _Refusal(
        operation, details.get("Code", ""), details.get("Message", "") or "", sent_fields
    )
    if _is_already_confirmed(refusal):
        return errors.AlreadyConfirmed()
    if _is_session_refused(refusal):
        return errors.SessionRefused()
    translate = _TRANSLATIONS.get(refusal.code)
    if translate is None:
        translate = _misconfigured if refusal.code in _MISCONFIGURATION else _unknown
    return translate(refusal)


def _is_session_refused(refusal: _Refusal) -> bool:
    # ConfirmSignUp and InitiateAuth say NotAuthorized ("Invalid session for the user, session
    # is expired.") of a Session that expired or was used: the person's doing, not ours.
    return refusal.code == "NotAuthorizedException" and bool(
        re.search(r"\bsession\b", refusal.message, re.I)
    )


def _is_already_confirmed(refusal: _Refusal) -> bool:
    # ConfirmSignUp says NotAuthorized ("Current status is CONFIRMED") and ResendConfirmationCode
    # says InvalidParameter ("User is already confirmed"): the message is the only tell.
    return refusal.code in {"NotAuthorizedException", "InvalidParameterException"} and bool(
        re.search(r"already confirmed|status is CONFIRMED", refusal.message, re.I)
    )


class CognitoGateway:
    """The unauthenticated sign-up calls, and the sign-in that completes them, made with
    SECRET_HASH and UserContextData.

    One instance per process: the boto3 client is thread-safe once created.
    """

    def __init__(
        self, client: Any, *, client_id: str, client_secret: str, user_pool_id: str = ""
    ) -> None:
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._user_pool_id = user_pool_id

    @classmethod
    def from_settings(cls, cognito: CognitoSettings, settings: Settings) -> CognitoGateway:
        # No endpoint_url here: boto3 resolves AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER itself.
        client = boto3.session.Session().client(
            "cognito-idp",
            region_name=cognito.region,
            config=BotoConfig(
                connect_timeout=settings.cognito_timeout_seconds,
                read_timeout=settings.cognito_timeout_seconds,
                # One attempt: a retried SignUp can create the user and then meet UsernameExists,
                # and a retried resend sends a second code. Clients retry on our 503 instead.
                retries={"mode": "standard", "total_max_attempts": 1},
                max_pool_connections=settings.cognito_max_connections,
                user_agent_extra="signup-service",
                # Our schemas already checked every parameter, against Cognito's own limits, which
                # are stricter than botocore's model (docs/cognito.md): botocore's second check
                # cost 8% of each call. Anything past both would meet Cognito's InvalidParameter,
                # a 400.
                parameter_validation=False,
            ),
        )
        return cls(
            client,
            client_id=cognito.client_id,
            client_secret=cognito.client_secret.reveal(),
            user_pool_id=cognito.user_pool_id,
        )

    def sign_up(
        self,
        *,
        username: str,
        password: str | None,
        attributes: Mapping[str, str],
        validation_data: Mapping[str, str],
        client_metadata: Mapping[str, str],
        analytics_endpoint_id: str | None,
        context: UserContext,
    ) -> SignUpResult:
        params: dict[str, Any] = {
            **self._identify(username, context, client_metadata),
            "UserAttributes": _attribute_list(attributes),
        }
        if password is not None:  # passwordless: left out, never sent empty
            params["Password"] = password
        if validation_data:
            params["ValidationData"] = _attribute_list(validation_data)
        if analytics_endpoint_id:
            params["AnalyticsMetadata"] = {"AnalyticsEndpointId": analytics_endpoint_id}
        sent_fields = {_field_name(name): name for name in attributes}
        try:
            with self._translated("SignUp", sent_fields=sent_fields):
                response = self._client.sign_up(**params)
        except errors.InvalidFields as error:
            if password is not None or error.fields or type(error) is not errors.InvalidFields:
                raise
            # A pool whose sign-in policy has no passwordless first factor wants a Password.
            logger.error(
                "Cognito refused a sign-up without a password: allow EMAIL_OTP or SMS_OTP as "
                "a first factor in the user pool, or turn SIGNUP_PASSWORDLESS off"
            )
            raise errors.UpstreamError() from None
        return SignUpResult(
            user_confirmed=bool(response.get("UserConfirmed")),
            user_sub=response.get("UserSub", ""),
            code_delivery=CodeDelivery.from_cognito(response.get("CodeDeliveryDetails")),
            session=_session(response),
        )

    def confirm_sign_up(
        self,
        *,
        username: str,
        code: str,
        context: UserContext,
        client_metadata: Mapping[str, str] | None = None,
        session: Secret | None = None,
    ) -> Secret | None:
        """Confirm the account; with the sign-up's Session, the Session that signs it in."""
        params = {**self._identify(username, context, client_metadata), "ConfirmationCode": code}
        if session is not None:
            params["Session"] = session.reveal()
        with self._translated("ConfirmSignUp", sent_fields={}):
            response = self._client.confirm_sign_up(**params)
        return _session(response)

    def sign_in_with_session(
        self,
        *,
        username: str,
        session: Secret,
        context: UserContext,
        client_metadata: Mapping[str, str] | None = None,
    ) -> AuthTokens:
        """InitiateAuth (USER_AUTH) with ConfirmSignUp's Session: tokens, without a password.

        The confirmed code was the first factor. SignInChallenged when Cognito asks for more
        (MFA, say): the person finishes on the sign-in page.
        """
        params: dict[str, Any] = {
            "ClientId": self._client_id,
            "AuthFlow": "USER_AUTH",
            "AuthParameters": {
                "USERNAME": username,
                "SECRET_HASH": secret_hash(username, self._client_id, self._client_secret),
            },
            "Session": session.reveal(),
            **_about_the_person(context, client_metadata),
        }
        with self._translated("InitiateAuth", sent_fields={}):
            response = self._client.initiate_auth(**params)
        result = response.get("AuthenticationResult")
        if not result or not result.get("AccessToken"):
            # Only the challenge's name: its parameters and Session are secrets.
            logger.info("Cognito answered the sign-in with %s", response.get("ChallengeName"))
            raise errors.SignInChallenged()
        return AuthTokens.from_cognito(result)

    def resend_confirmation_code(
        self,
        *,
        username: str,
        context: UserContext,
        client_metadata: Mapping[str, str] | None = None,
    ) -> CodeDelivery | None:
        params = self._identify(username, context, client_metadata)
        with self._translated("ResendConfirmationCode", sent_fields={}):
            response = self._client.resend_confirmation_code(**params)
        return CodeDelivery.from_cognito(response.get("CodeDeliveryDetails"))

    def _identify(
        self,
        username: str,
        context: UserContext,
        client_metadata: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        """The parameters every sign-up call shares; SECRET_HASH is over the Username sent."""
        return {
            "ClientId": self._client_id,
            "Username": username,
            "SecretHash": secret_hash(username, self._client_id, self._client_secret),
            **_about_the_person(context, client_metadata),
        }

    @property
    def browser_settings(self) -> dict[str, str]:
        """What Cognito's advanced-security script needs in a browser: none of it is secret."""
        return {
            "user_pool_id": self._user_pool_id,
            "client_id": self._client_id,
            "region": self._client.meta.region_name,
        }

    def list_users(self) -> Iterator[PoolUser]:
        """Every user of the pool, 60 per call, for reconciliation.

        Unlike the sign-up calls, ListUsers is an admin call: it is signed with IAM credentials
        (boto3's usual chain) that allow cognito-idp:ListUsers on the pool.
        """
        pages = self._client.get_paginator("list_users").paginate(
            UserPoolId=self._user_pool_id,
            AttributesToGet=["sub", "email", "phone_number"],
            PaginationConfig={"PageSize": 60},
        )
        try:
            for page in pages:
                yield from (PoolUser.from_cognito(user) for user in page.get("Users", []))
        except NoCredentialsError:
            raise DirectoryUnavailable(
                "ListUsers needs AWS credentials allowing cognito-idp:ListUsers on the pool"
            ) from None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "an unknown error")
            raise DirectoryUnavailable(f"Cognito refused ListUsers with {code}") from None
        except BotoCoreError as error:
            raise DirectoryUnavailable(f"ListUsers failed: {type(error).__name__}") from None

    def check_reachable(self, timeout: float) -> None:
        """Raise unless the user pool's public JWKS document can be fetched.

        The cheapest proof that the endpoint, the region and the pool are right: an unsigned GET
        that needs no credentials, creates nothing and counts against no Cognito quota. Every
        sign-up call, by contrast, would spend the account's UserCreation quota.
        """
        url = f"{self._client.meta.endpoint_url}/{self._user_pool_id}/.well-known/jwks.json"
        if not url.startswith(("https://", "http://")):
            raise ValueError("the Cognito endpoint is not an HTTP URL")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - checked
                answer.read(64 * 1024)
        except urllib.error.HTTPError as error:
            error.close()  # it holds the connection open until collected otherwise
            raise PoolUnavailable(f"the user pool's JWKS answered {error.code}") from None

    @contextmanager
    def _translated(self, operation: str, *, sent_fields: Mapping[str, str]) -> Iterator[None]:
        started = time.perf_counter()
        error_code = "none"
        try:
            yield
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            error_code = code if code in KNOWN_ERROR_CODES else "other"
            raise translate_client_error(operation, error, sent_fields) from None
        except (ConnectTimeoutError, ReadTimeoutError):
            error_code = "timeout"
            logger.warning("Cognito %s timed out", operation)
            raise errors.UpstreamTimeout() from None
        except (EndpointConnectionError, HTTPClientError):
            error_code = "unreachable"
            logger.warning("Cognito %s could not be reached", operation)
            raise errors.UpstreamUnavailable(retry_after=THROTTLE_RETRY_AFTER_SECONDS) from None
        except BotoCoreError as error:
            error_code = "botocore_error"
            logger.error("Cognito %s failed in botocore: %s", operation, type(error).__name__)
            raise errors.UpstreamError() from None
        finally:
            seconds = time.perf_counter() - started
            metrics.observe_cognito_call(operation, error_code, seconds)
            logger.debug(
                "Cognito call",
                extra={
                    "operation": operation,
                    "error_code": error_code,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )


def _about_the_person(
    context: UserContext, client_metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    """UserContextData and ClientMetadata, as every call about a person sends them, if any."""
    params: dict[str, Any] = {}
    user_context = context.as_cognito()
    if user_context:
        params["UserContextData"] = user_context
    if client_metadata:
        params["ClientMetadata"] = dict(client_metadata)
    return params


def _session(response: Mapping[str, Any]) -> Secret | None:
    session = response.get("Session")
    return Secret(session) if session else None


def _field_name(attribute: str) -> str:
    """The request field an attribute came from: custom ones travel inside ``attributes``."""
    return f"attributes.{attribute}" if attribute.startswith("custom:") else attribute


def _attribute_list(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in values.items()]
