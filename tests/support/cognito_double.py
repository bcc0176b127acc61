"""A strict stand-in for Cognito's sign-up API, served over real HTTP for the service's tests.

moto accepts any SecretHash and has no ResendConfirmationCode, so it cannot prove the gateway right.
This double speaks the AWS JSON 1.1 protocol for SignUp, ConfirmSignUp and ResendConfirmationCode,
refuses a wrong or missing SecretHash, and records every field limit of /work/shared/COGNITO.md a
call breaks in ``violations``: botocore checks none of them, so a test can assert that list empty.
It also answers ListUsers, the admin call reconciliation makes: only signed (the signature itself
is not checked).
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import threading
import time
import unicodedata
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from app.cognito import secret_hash
from app.config import cognito_environment
from tests.support.servers import LocalServer

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
CONTENT_TYPE = "application/x-amz-json-1.1"
# 51 lowercase letters and digits, shaped like the secrets Cognito generates.
DEFAULT_CLIENT_SECRET = "t3stsecret0abcdefghijklmnopqrstuvwxyz0123456789abcd"

# Attributes every user pool knows; anything else must be a "custom:" one.
STANDARD_ATTRIBUTES = frozenset(
    {
        "address",
        "birthdate",
        "email",
        "email_verified",
        "family_name",
        "gender",
        "given_name",
        "locale",
        "middle_name",
        "name",
        "nickname",
        "phone_number",
        "phone_number_verified",
        "picture",
        "preferred_username",
        "profile",
        "updated_at",
        "website",
        "zoneinfo",
    }
)

_CLIENT_ID = re.compile(r"[\w+]+", re.ASCII)
_SECRET_HASH = re.compile(r"[\w+=/]+", re.ASCII)
# Java's \S, as the service model means it: only ASCII whitespace counts as whitespace.
_NO_WHITESPACE = re.compile(r"[\S]+", re.ASCII)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+[0-9]{4,15}")
_MAX_STRING = 131072
# GET /<pool id>/.well-known/jwks.json: public, unauthenticated; recorded as operation JWKS.
JWKS_PATH = "/.well-known/jwks.json"
JWKS = "GetJwks"


@dataclass
class Received:
    """One call as it arrived."""

    operation: str
    params: dict
    headers: dict[str, str]


@dataclass(frozen=True)
class UserState:
    sub: str
    confirmed: bool


@dataclass
class _User:
    sub: str
    attributes: dict[str, str]
    code: str
    confirmed: bool = False
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)


class _CognitoError(Exception):
    """A Cognito error response."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _error(
    code: str, message: str, status: int = 400, headers: dict[str, str] | None = None
) -> _Answer:
    body = json.dumps({"__type": code, "message": message}).encode()
    return _Answer(status, body, headers={"x-amzn-ErrorType": code, **(headers or {})})


@dataclass(frozen=True)
class _Breach:
    """A limit a call broke: ``field`` for people, ``path`` as AWS's validation messages name it."""

    field: str
    path: str
    problem: str


class _Limits:
    """Collects every breach of the service model's limits in one call's parameters."""

    def __init__(self) -> None:
        self.breaches: list[_Breach] = []

    def string(
        self,
        value: Any,
        field_name: str,
        path: str,
        *,
        low: int = 0,
        high: int = _MAX_STRING,
        pattern: re.Pattern[str] | None = None,
        allowed: Callable[[str], bool] | None = None,
        rule: str = "",
    ) -> None:
        if not isinstance(value, str):
            self.add(field_name, path, f"Member must be a string, got {type(value).__name__}")
            return
        if len(value) < low:
            self.add(field_name, path, f"Member must have length greater than or equal to {low}")
        if len(value) > high:
            self.add(
                field_name,
                path,
                f"Member must have length less than or equal to {high} (got {len(value)})",
            )
        if value and pattern is not None and not pattern.fullmatch(value):
            self.add(
                field_name,
                path,
                f"Member must satisfy regular expression pattern: {pattern.pattern}",
            )
        if value and allowed is not None and not allowed(value):
            self.add(field_name, path, f"Member must {rule}")

    def required(self, params: dict[str, Any], name: str) -> bool:
        if name in params:
            return True
        self.add(name, name[:1].lower() + name[1:], "Member must not be null")
        return False

    def mapping(self, value: Any, field_name: str, path: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.add(field_name, path, f"Member must be an object, got {type(value).__name__}")
        return None

    def add(self, field_name: str, path: str, problem: str) -> None:
        self.breaches.append(_Breach(field_name, path, problem))


def _username_characters(value: str) -> bool:
    # [\p{L}\p{M}\p{S}\p{N}\p{P}]+: no separators (whitespace) and no control/format characters.
    return all(unicodedata.category(char)[0] in "LMSNP" for char in value)


def _attribute_name_characters(value: str) -> bool:
    return all(char in "\t\n\r " or unicodedata.category(char)[0] in "LMSNP" for char in value)


def _ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_MEMBERS = {
    "SignUp": {
        "ClientId",
        "SecretHash",
        "Username",
        "Password",
        "UserAttributes",
        "ValidationData",
        "AnalyticsMetadata",
        "UserContextData",
        "ClientMetadata",
    },
    "ConfirmSignUp": {
        "ClientId",
        "SecretHash",
        "Username",
        "ConfirmationCode",
        "ForceAliasCreation",
        "AnalyticsMetadata",
        "UserContextData",
        "ClientMetadata",
        "Session",
    },
    "ResendConfirmationCode": {
        "ClientId",
        "SecretHash",
        "Username",
        "UserContextData",
        "AnalyticsMetadata",
        "ClientMetadata",
    },
}
_MEMBERS["ListUsers"] = {"UserPoolId", "AttributesToGet", "Limit", "PaginationToken", "Filter"}
_REQUIRED = {
    "SignUp": ("ClientId", "Username", "Password"),
    "ConfirmSignUp": ("ClientId", "Username", "ConfirmationCode"),
    "ResendConfirmationCode": ("ClientId", "Username"),
    "ListUsers": ("UserPoolId",),
}
# Calls that need IAM credentials: signed with SigV4, never with a client id and SECRET_HASH.
ADMIN_OPERATIONS = frozenset({"ListUsers"})
LIST_USERS_MAX = 60


def _breaches(operation: str, params: dict[str, Any]) -> list[_Breach]:
    """Every COGNITO.md limit (and type) ``params`` breaks; Password is required, as in our pool."""
    limits = _Limits()
    for name in sorted(set(params) - _MEMBERS[operation]):
        limits.add(name, name, f"Member is not a parameter of {operation}")
    present = {name for name in _REQUIRED[operation] if limits.required(params, name)}

    if "UserPoolId" in present:
        limits.string(params["UserPoolId"], "UserPoolId", "userPoolId", low=1, high=55)
    if "Limit" in params and (
        not isinstance(params["Limit"], int) or not 0 <= params["Limit"] <= LIST_USERS_MAX
    ):
        limits.add("Limit", "limit", f"Member must be between 0 and {LIST_USERS_MAX}")
    if "ClientId" in present:
        limits.string(
            params["ClientId"], "ClientId", "clientId", low=1, high=128, pattern=_CLIENT_ID
        )
    if "SecretHash" in params:
        limits.string(
            params["SecretHash"], "SecretHash", "secretHash", low=1, high=128, pattern=_SECRET_HASH
        )
    if "Username" in present:
        limits.string(
            params["Username"],
            "Username",
            "username",
            low=1,
            high=128,
            allowed=_username_characters,
            rule="contain only letters, marks, symbols, numbers and punctuation",
        )
    if "Password" in present:
        limits.string(
            params["Password"], "Password", "password", low=1, high=256, pattern=_NO_WHITESPACE
        )
    if "ConfirmationCode" in present:
        limits.string(
            params["ConfirmationCode"],
            "ConfirmationCode",
            "confirmationCode",
            low=1,
            high=2048,
            pattern=_NO_WHITESPACE,
        )
    if "Session" in params:
        limits.string(params["Session"], "Session", "session", low=20, high=4096)
    if "ForceAliasCreation" in params and not isinstance(params["ForceAliasCreation"], bool):
        limits.add("ForceAliasCreation", "forceAliasCreation", "Member must be a boolean")
    for name in ("UserAttributes", "ValidationData"):
        if name in params:
            _check_attributes(limits, name, params[name], custom_prefix=name == "UserAttributes")
    if "ClientMetadata" in params:
        metadata = limits.mapping(params["ClientMetadata"], "ClientMetadata", "clientMetadata")
        for key, value in (metadata or {}).items():
            limits.string(key, f"ClientMetadata key {key!r}", "clientMetadata")
            limits.string(value, f"ClientMetadata[{key!r}]", f"clientMetadata.{key}")
    if "AnalyticsMetadata" in params:
        analytics = limits.mapping(
            params["AnalyticsMetadata"], "AnalyticsMetadata", "analyticsMetadata"
        )
        if analytics and "AnalyticsEndpointId" in analytics:
            limits.string(
                analytics["AnalyticsEndpointId"],
                "AnalyticsMetadata.AnalyticsEndpointId",
                "analyticsMetadata.analyticsEndpointId",
            )
    if "UserContextData" in params:
        context = limits.mapping(params["UserContextData"], "UserContextData", "userContextData")
        if context and "IpAddress" in context:
            limits.string(
                context["IpAddress"],
                "UserContextData.IpAddress",
                "userContextData.ipAddress",
                allowed=_ip_address,
                rule="be a valid IPv4 or IPv6 address",
            )
        if context and "EncodedData" in context:
            limits.string(
                context["EncodedData"], "UserContextData.EncodedData", "userContextData.encodedData"
            )
    return limits.breaches


def _check_attributes(limits: _Limits, name: str, value: Any, *, custom_prefix: bool) -> None:
    path = name[:1].lower() + name[1:]
    if not isinstance(value, list):
        limits.add(name, path, f"Member must be a list, got {type(value).__name__}")
        return
    for index, item in enumerate(value):
        where, item_path = f"{name}[{index}]", f"{path}.{index + 1}.member"
        attribute = limits.mapping(item, where, item_path)
        if attribute is None:
            continue
        if "Name" not in attribute:
            limits.add(f"{where}.Name", f"{item_path}.name", "Member must not be null")
            continue
        attribute_name = attribute["Name"]
        limits.string(
            attribute_name,
            f"{where}.Name",
            f"{item_path}.name",
            low=1,
            high=32,
            allowed=_attribute_name_characters,
            rule="contain only letters, marks, symbols, numbers, punctuation and whitespace",
        )
        label = f"{where}.Value ({attribute_name})" if isinstance(attribute_name, str) else where
        if "Value" in attribute:
            limits.string(attribute["Value"], label, f"{item_path}.value", high=2048)
        if (
            custom_prefix
            and isinstance(attribute_name, str)
            and attribute_name not in STANDARD_ATTRIBUTES
            and not attribute_name.startswith("custom:")
        ):
            limits.add(
                f"{where}.Name ({attribute_name})",
                f"{item_path}.name",
                "Member must be a standard attribute or start with 'custom:'",
            )


def _password_problem(password: str) -> str | None:
    """The first rule of a default pool's policy that ``password`` breaks, in Cognito's words."""
    if len(password) < 8:
        return "Password not long enough"
    if not any(char.isupper() for char in password):
        return "Password must have uppercase characters"
    if not any(char.islower() for char in password):
        return "Password must have lowercase characters"
    if not any(char.isdigit() for char in password):
        return "Password must have numeric characters"
    return None


def _delivery(attributes: dict[str, str]) -> dict[str, str] | None:
    """Where the code goes, masked as Cognito masks it: email first, else SMS to the phone."""
    email = attributes.get("email")
    if email:
        local, _, domain = email.partition("@")
        return {
            "Destination": f"{local[:1]}***@{domain[:1]}***",
            "DeliveryMedium": "EMAIL",
            "AttributeName": "email",
        }
    phone = attributes.get("phone_number")
    if phone:
        return {
            "Destination": f"+{'*' * max(len(phone) - 5, 0)}{phone[-4:]}",
            "DeliveryMedium": "SMS",
            "AttributeName": "phone_number",
        }
    return None


def _new_code() -> str:
    return f"{random.randrange(1_000_000):06d}"


class CognitoDouble:
    """Cognito's SignUp, ConfirmSignUp and ResendConfirmationCode for one pool and one app client.

    Start it (or use it as a context manager), point boto3 at ``endpoint_url`` (``settings()``
    holds the service's environment), then inspect ``received`` and ``violations``.
    """

    def __init__(
        self,
        *,
        client_id: str = "testclient1234567890abcd",
        client_secret: str = DEFAULT_CLIENT_SECRET,
        user_pool_id: str = "us-east-1_TestPool1",
        region: str = "us-east-1",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.user_pool_id = user_pool_id
        self.region = region
        self.received: list[Received] = []
        self.violations: list[str] = []
        self.delay_seconds: float = 0.0
        self.most_in_flight = 0  # the most calls it was answering at once
        self._in_flight = 0
        self._users: dict[str, _User] = {}
        self._scripted: defaultdict[str, deque[_Answer]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server: LocalServer | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "SignUp": self._sign_up,
            "ConfirmSignUp": self._confirm_sign_up,
            "ResendConfirmationCode": self._resend_confirmation_code,
            "ListUsers": self._list_users,
        }

    # Lifecycle

    def start(self) -> CognitoDouble:
        if self._server is not None:
            raise RuntimeError("the Cognito double is already running")
        self._server = LocalServer(self._wsgi, "cognito-double")
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._server = None

    def __enter__(self) -> CognitoDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("start the Cognito double before asking for its endpoint")
        return f"http://127.0.0.1:{self._server.port}"

    def settings(self) -> dict[str, str]:
        """The service's environment for talking to this double."""
        return cognito_environment(
            user_pool_id=self.user_pool_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            region=self.region,
            endpoint_url=self.endpoint_url,
        )

    # What tests read and script

    def calls(self, operation: str) -> list[Received]:
        with self._lock:
            return [call for call in self.received if call.operation == operation]

    def code_for(self, username: str) -> str:
        """The confirmation code last sent to ``username``; KeyError when no such user signed up."""
        with self._lock:
            user = self._users.get(username)
            if user is None:
                raise KeyError(f"no user {username!r} has signed up with the Cognito double")
            return user.code

    def sub_for(self, username: str) -> str:
        """The UserSub the double gave ``username``; KeyError when no such user signed up."""
        with self._lock:
            return self._users[username].sub

    def users(self) -> dict[str, UserState]:
        """Every user the double holds, by username."""
        with self._lock:
            return {
                username: UserState(user.sub, user.confirmed)
                for username, user in self._users.items()
            }

    def fail_next(
        self,
        operation: str,
        error_code: str,
        message: str = "",
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` with this Cognito error."""
        answer = _error(error_code, message, status, headers)
        with self._lock:
            self._scripted[operation].extend([answer] * times)

    def respond_raw_next(
        self, operation: str, status: int, body: bytes, content_type: str = "text/html"
    ) -> None:
        """Answer the next call of ``operation`` with exactly this, e.g. a proxy's 502 page."""
        with self._lock:
            self._scripted[operation].append(_Answer(status, body, content_type))

    def reset(self) -> None:
        """Forget users, calls, violations, scripted answers and the delay."""
        with self._lock:
            self._users.clear()
            self.received.clear()
            self.violations.clear()
            self._scripted.clear()
            self.delay_seconds = 0.0
            self.most_in_flight = 0

    # HTTP

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            if request.method == "GET" and request.path.endswith(JWKS_PATH):
                answer = self._jwks(request)
            else:
                answer = self._answer(request)
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
        finally:
            with self._lock:
                self._in_flight -= 1
        response = Response(answer.body, status=answer.status, content_type=answer.content_type)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        for name, value in answer.headers.items():
            response.headers[name] = value
        return response(environ, start_response)

    def _jwks(self, request: Request) -> _Answer:
        """The pool's public signing keys, as Cognito serves them to anyone, unsigned."""
        with self._lock:
            self.received.append(Received(JWKS, {}, dict(request.headers.items())))
            if self._scripted[JWKS]:
                return self._scripted[JWKS].popleft()
        if request.path != f"/{self.user_pool_id}{JWKS_PATH}":
            pool = request.path.removesuffix(JWKS_PATH).strip("/")
            body = json.dumps({"message": f"User pool {pool} does not exist."}).encode()
            return _Answer(404, body, "application/json")
        key = {
            "alg": "RS256",
            "e": "AQAB",
            "kid": "double",
            "kty": "RSA",
            "n": "AQAB",
            "use": "sig",
        }
        return _Answer(200, json.dumps({"keys": [key]}).encode(), "application/json")

    def _answer(self, request: Request) -> _Answer:
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        try:
            params = json.loads(request.get_data() or b"{}")
        except ValueError:
            params = None
        with self._lock:
            self.received.append(
                Received(
                    operation=operation,
                    params=params if isinstance(params, dict) else {},
                    headers=dict(request.headers.items()),
                )
            )
            handler = self._handlers.get(operation) if target.startswith(TARGET_PREFIX) else None
            if request.method != "POST" or handler is None:
                return _error("UnknownOperationException", f"Unknown operation {target!r}")
            if not isinstance(params, dict):
                self.violations.append(f"{operation}: the body is not a JSON object")
                return _error(
                    "SerializationException", "Start of structure or map found where not expected."
                )
            breaches = _breaches(operation, params)
            self.violations.extend(
                f"{operation} {breach.field}: {breach.problem}" for breach in breaches
            )
            if self._scripted[operation]:
                return self._scripted[operation].popleft()
            if breaches:
                count = len(breaches)
                details = "; ".join(
                    f"Value at '{breach.path}' failed to satisfy constraint: {breach.problem}"
                    for breach in breaches
                )
                noun = "error" if count == 1 else "errors"
                return _error(
                    "InvalidParameterException", f"{count} validation {noun} detected: {details}"
                )
            try:
                if operation in ADMIN_OPERATIONS:
                    self._authorise(params, request.headers.get("Authorization", ""))
                else:
                    self._authenticate(params)
                body = handler(params)
            except _CognitoError as failure:
                return _error(failure.code, failure.message, failure.status)
            return _Answer(200, json.dumps(body).encode())

    # Cognito's behaviour; called with the lock held and the limits already checked

    def _authenticate(self, params: dict[str, Any]) -> None:
        client_id = params["ClientId"]
        if client_id != self.client_id:
            raise _CognitoError(
                "ResourceNotFoundException", f"User pool client {client_id} does not exist."
            )
        if "SecretHash" not in params:
            raise _CognitoError(
                "NotAuthorizedException",
                f"Client {client_id} is configured with secret but SECRET_HASH was not received",
            )
        expected = secret_hash(params["Username"], client_id, self.client_secret)
        if params["SecretHash"] != expected:
            raise _CognitoError(
                "NotAuthorizedException", f"Unable to verify secret hash for client {client_id}"
            )

    def _authorise(self, params: dict[str, Any], authorization: str) -> None:
        """Admin calls are signed with IAM credentials; the signature itself is not checked."""
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            raise _CognitoError(
                "MissingAuthenticationTokenException", "Missing Authentication Token", 403
            )
        if params["UserPoolId"] != self.user_pool_id:
            raise _CognitoError(
                "ResourceNotFoundException", f"User pool {params['UserPoolId']} does not exist."
            )

    def _list_users(self, params: dict[str, Any]) -> dict[str, Any]:
        """ListUsers without Filter: every user, in pages of Limit (60 at most)."""
        if "Filter" in params:
            raise _CognitoError("InvalidParameterException", "Filter is not supported here.")
        start = int(params.get("PaginationToken") or 0)
        limit = params.get("Limit") or LIST_USERS_MAX
        wanted = params.get("AttributesToGet")
        page = list(self._users.items())[start : start + limit]
        users = []
        for username, user in page:
            attributes = {"sub": user.sub, **user.attributes}
            users.append(
                {
                    "Username": username,
                    "Attributes": [
                        {"Name": name, "Value": value}
                        for name, value in attributes.items()
                        if wanted is None or name in wanted
                    ],
                    "UserCreateDate": user.created,
                    "UserLastModifiedDate": user.modified,
                    "Enabled": True,
                    "UserStatus": "CONFIRMED" if user.confirmed else "UNCONFIRMED",
                }
            )
        answer: dict[str, Any] = {"Users": users}
        if start + limit < len(self._users):
            answer["PaginationToken"] = str(start + limit)
        return answer

    def _sign_up(self, params: dict[str, Any]) -> dict[str, Any]:
        problem = _password_problem(params["Password"])
        if problem:
            raise _CognitoError(
                "InvalidPasswordException", f"Password did not conform with policy: {problem}"
            )
        attributes = {
            item["Name"]: item.get("Value", "") for item in params.get("UserAttributes", [])
        }
        if "email" in attributes and not _EMAIL.fullmatch(attributes["email"]):
            raise _CognitoError("InvalidParameterException", "Invalid email address format.")
        if "phone_number" in attributes and not _PHONE.fullmatch(attributes["phone_number"]):
            raise _CognitoError("InvalidParameterException", "Invalid phone number format.")
        username = params["Username"]
        if username in self._users:
            raise _CognitoError("UsernameExistsException", "User already exists")
        user = _User(sub=str(uuid.uuid4()), attributes=attributes, code=_new_code())
        self._users[username] = user
        answer: dict[str, Any] = {"UserConfirmed": False, "UserSub": user.sub}
        delivery = _delivery(attributes)
        if delivery:
            answer["CodeDeliveryDetails"] = delivery
        return answer

    def _confirm_sign_up(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._known_user(params["Username"])
        if user.confirmed:
            raise _CognitoError(
                "NotAuthorizedException", "User cannot be confirmed. Current status is CONFIRMED"
            )
        if params["ConfirmationCode"] != user.code:
            raise _CognitoError(
                "CodeMismatchException", "Invalid verification code provided, please try again."
            )
        user.confirmed = True
        user.modified = time.time()
        return {}

    def _resend_confirmation_code(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._known_user(params["Username"])
        if user.confirmed:
            raise _CognitoError("InvalidParameterException", "User is already confirmed.")
        user.code = _new_code()
        delivery = _delivery(user.attributes)
        return {"CodeDeliveryDetails": delivery} if delivery else {}

    def _known_user(self, username: str) -> _User:
        user = self._users.get(username)
        if user is None:
            raise _CognitoError(
                "UserNotFoundException", "Username/client id combination not found."
            )
        return user
