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
import select
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore import awsrequest
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
from gevent.monkey import get_original

from app import errors, metrics
from app.config import CognitoSettings, Settings

logger = logging.getLogger(__name__)

# select.poll as the kernel gives it, gevent's patch or not: asked with a zero timeout, never waits.
_kernel_poll = get_original("select", "poll")


def _lean(connection_class: type) -> type:
    """``connection_class`` without two costs urllib3 adds to every request.

    urllib3 sends a request's head, then its body: two sends, two segments (two TLS records to
    Cognito), for a SignUp of under a kilobyte. Here the head waits for the body's first bytes.
    A request with ``Expect: 100-continue`` (botocore's for large uploads) waits for the server
    between the two, and a body that is not bytes may stream: both go as urllib3 sends them.

    Before reusing a pooled connection, urllib3 asks whether the server closed it: whether the
    socket is readable, with no wait. Under gevent its ``select.poll`` is gevent's, which builds
    watchers on the hub's loop for an answer the kernel gives at once; here the kernel is asked
    directly, the same question (readable: closed, or data nobody asked for), one syscall that
    never waits. Retries are off (a retried SignUp can meet its own user), so a closed connection
    that passed this check would fail a sign-up.
    """

    class LeanConnection(connection_class):
        lean = True
        _holding = False
        _head: bytes | None = None

        def request(
            self,
            method: str,
            url: str,
            body: Any = None,
            headers: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            expects_continue = (headers or {}).get("Expect") in (b"100-continue", "100-continue")
            self._holding, self._head = isinstance(body, bytes) and not expects_continue, None
            try:
                sent = super().request(method, url, body, headers, *args, **kwargs)
                if self._head is not None:  # an empty body: the head alone
                    super().send(self._head)
                return sent
            finally:
                self._holding, self._head = False, None

        def send(self, data: bytes) -> None:
            if self._holding:
                if self._head is None:
                    self._head = data
                    return
                data, self._head, self._holding = self._head + data, None, False
            super().send(data)

        @property
        def is_connected(self) -> bool:
            if self.sock is None:
                return False
            poller = _kernel_poll()
            poller.register(self.sock, select.POLLIN)
            return not poller.poll(0)

    LeanConnection.__name__ = LeanConnection.__qualname__ = f"Lean{connection_class.__name__}"
    return LeanConnection


def lean_connections() -> None:
    """botocore's connections to Cognito without urllib3's avoidable costs (see :func:`_lean`).

    Under load (`make bench`, fast stand-in) one send instead of two took about 4% off a worker's
    CPU per sign-up, the liveness check asked of the kernel about 2%. Set on botocore's pool
    classes, the only way in: a client's connection class is not a setting. This process's only
    botocore client is Cognito's.
    """
    for pool in (awsrequest.AWSHTTPConnectionPool, awsrequest.AWSHTTPSConnectionPool):
        if not getattr(pool.ConnectionCls, "lean", False):
            pool.ConnectionCls = _lean(pool.ConnectionCls)


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


# Cognito's policy messages ("Password did not conform with policy: Password must have symbol
# characters") become our own words: a client sees what to change, never upstream text.
_PASSWORD_RULES = (
    (re.compile(r"long enough|length", re.I), "Use a longer password."),
    (re.compile(r"uppercase", re.I), "Add an uppercase letter."),
    (re.compile(r"lowercase", re.I), "Add a lowercase letter."),
    (re.compile(r"numeric|number", re.I), "Add a number."),
    (re.compile(r"symbol", re.I), "Add a symbol, such as ! or %."),
    (re.compile(r"reuse|previous", re.I), "Choose a password you have not used before."),
)
_POLICY_FALLBACK_HINT = "This password does not meet the password policy."

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

# The error codes Cognito's sign-up calls answer with (COGNITO.md): metrics label these by name
# and everything else (a proxy's HTML page, a code from a future API version) as "other".
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
    }
    | _MISCONFIGURATION
)


def password_messages(cognito_message: str) -> list[str]:
    """Readable hints for an InvalidPassword message, one per policy rule it mentions."""
    hints = [hint for pattern, hint in _PASSWORD_RULES if pattern.search(cognito_message)]
    return hints or [_POLICY_FALLBACK_HINT]


def translate_client_error(
    operation: str, error: ClientError, sent_fields: Mapping[str, str]
) -> errors.APIError:
    """The service's answer to a Cognito error response.

    ``sent_fields`` maps our request field names to the Cognito attribute names we sent, so an
    InvalidParameter that mentions one of them can be reported on that field.
    """
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "") or ""

    if code == "UsernameExistsException":
        return errors.UsernameTaken(fields={"username": [errors.UsernameTaken.description]})
    if code == "AliasExistsException":
        return errors.UsernameTaken(
            "Another account already uses this email address or phone number.",
            fields={"email": ["Another account already uses this email address or phone number."]},
        )
    if code == "InvalidPasswordException":
        return errors.InvalidFields(fields={"password": password_messages(message)})
    if code == "CodeMismatchException":
        return errors.CodeMismatch(fields={"code": [errors.CodeMismatch.description]})
    if code == "ExpiredCodeException":
        return errors.CodeExpired(fields={"code": [errors.CodeExpired.description]})
    if code == "UserNotFoundException":
        return errors.UserNotFound(fields={"username": [errors.UserNotFound.description]})
    if code == "TooManyFailedAttemptsException":
        return errors.TooManyAttempts(retry_after=QUOTA_RETRY_AFTER_SECONDS)
    if code == "UserLambdaValidationException":
        return errors.SignupRejected()
    if code == "ForbiddenException":
        return errors.Forbidden()
    if code == "TooManyRequestsException":
        return errors.UpstreamThrottled(retry_after=THROTTLE_RETRY_AFTER_SECONDS)
    if code == "LimitExceededException":
        if operation == "SignUp":
            # The email/SMS quota can run out after the user was created: the account may exist.
            return errors.CodeDeliveryLimited(retry_after=QUOTA_RETRY_AFTER_SECONDS)
        return errors.UpstreamThrottled(retry_after=QUOTA_RETRY_AFTER_SECONDS)
    if code == "CodeDeliveryFailureException":
        return errors.CodeDeliveryFailed()
    if _is_already_confirmed(code, message):
        return errors.AlreadyConfirmed()
    if code == "InvalidParameterException":
        named = [
            field
            for field, attribute in sent_fields.items()
            if re.search(rf"(?<![\w:]){re.escape(attribute)}(?![\w:])", message)
        ]
        return errors.InvalidFields(
            fields={field: ["The user pool does not accept this value."] for field in named}
        )
    if code in _MISCONFIGURATION:
        # Only the code: Cognito's messages can echo request values, passwords included.
        logger.error(
            "Cognito refused %s with %s: check the COGNITO_* settings, the app client "
            "and the user pool",
            operation,
            code,
        )
        return errors.UpstreamError()
    logger.error("Cognito %s failed with %s", operation, code or "an unknown error")
    return errors.UpstreamError()


def _is_already_confirmed(code: str, message: str) -> bool:
    # ConfirmSignUp says NotAuthorized ("Current status is CONFIRMED") and ResendConfirmationCode
    # says InvalidParameter ("User is already confirmed"): the message is the only tell.
    return code in {"NotAuthorizedException", "InvalidParameterException"} and bool(
        re.search(r"already confirmed|status is CONFIRMED", message, re.I)
    )


class CognitoGateway:
    """The three unauthenticated sign-up calls, made with SECRET_HASH and UserContextData.

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
        lean_connections()
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
                # are stricter than botocore's model (COGNITO.md): botocore's second check cost 8%
                # of each call. Anything past both would meet Cognito's InvalidParameter, a 400.
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
        password: str,
        attributes: Mapping[str, str],
        validation_data: Mapping[str, str],
        client_metadata: Mapping[str, str],
        analytics_endpoint_id: str | None,
        context: UserContext,
    ) -> SignUpResult:
        params: dict[str, Any] = {
            **self._identify(username, context, client_metadata),
            "Password": password,
            "UserAttributes": _attribute_list(attributes),
        }
        if validation_data:
            params["ValidationData"] = _attribute_list(validation_data)
        if analytics_endpoint_id:
            params["AnalyticsMetadata"] = {"AnalyticsEndpointId": analytics_endpoint_id}
        sent_fields = {_field_name(name): name for name in attributes}
        with self._translated("SignUp", sent_fields=sent_fields):
            response = self._client.sign_up(**params)
        return SignUpResult(
            user_confirmed=bool(response.get("UserConfirmed")),
            user_sub=response.get("UserSub", ""),
            code_delivery=CodeDelivery.from_cognito(response.get("CodeDeliveryDetails")),
        )

    def confirm_sign_up(
        self,
        *,
        username: str,
        code: str,
        context: UserContext,
        client_metadata: Mapping[str, str] | None = None,
    ) -> None:
        params = {**self._identify(username, context, client_metadata), "ConfirmationCode": code}
        with self._translated("ConfirmSignUp", sent_fields={}):
            self._client.confirm_sign_up(**params)

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
        params: dict[str, Any] = {
            "ClientId": self._client_id,
            "Username": username,
            "SecretHash": secret_hash(username, self._client_id, self._client_secret),
        }
        user_context = context.as_cognito()
        if user_context:
            params["UserContextData"] = user_context
        if client_metadata:
            params["ClientMetadata"] = dict(client_metadata)
        return params

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


def _field_name(attribute: str) -> str:
    """The request field an attribute came from: custom ones travel inside ``attributes``."""
    return f"attributes.{attribute}" if attribute.startswith("custom:") else attribute


def _attribute_list(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in values.items()]
