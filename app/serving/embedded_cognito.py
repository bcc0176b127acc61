"""The one imitation of Cognito's user-pool API: moto, behind a strict layer of our own.

moto holds the pool and its users and answers over real HTTP, but it ignores SecretHash, accepts
any confirmation code, has no ResendConfirmationCode, checks no field limit, needs a Password (a
missing one is a 500), and has neither SignUp's Session nor the USER_AUTH sign-in flow. The layer
in front checks all of that and supplies the rest, in Cognito's own error shapes
(docs/cognito.md): passwordless sign-up, the sign-up Session that ConfirmSignUp takes and renews,
and InitiateAuth USER_AUTH, which trades that Session once for tokens moto minted and knows.
`make run` serves it when no user pool is configured and logs each code for the developer; the
tests use it through tests/support/cognito_double.py, and bench/standin.py borrows its wire format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import ipaddress
import json
import logging
import re
import secrets
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from app.config import cognito_environment

logger = logging.getLogger(__name__)

Params = dict[str, Any]

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
CONTENT_TYPE = "application/x-amz-json-1.1"
# GET /<pool id>/.well-known/jwks.json: the pool's public keys, for anyone, unsigned.
JWKS_PATH = "/.well-known/jwks.json"

# The pool's password policy; the layer words its refusals as Cognito does, moto would not.
PASSWORD_POLICY = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
}
CODE_LIFETIME_SECONDS = 24 * 60 * 60  # a sign-up code expires after a day
# The app client's AuthSessionValidity: 3 to 15 minutes, 3 unless set.
SESSION_VALIDITY_SECONDS = 3 * 60
# Wrong codes before TooManyFailedAttempts; Cognito publishes no number, this one is ours.
MAX_FAILED_ATTEMPTS = 5
LIST_USERS_MAX = 60
_MAX_STRING = 131072

# Attributes every user pool knows; any other must be a "custom:" one.
STANDARD_ATTRIBUTES = frozenset({
    "address", "birthdate", "email", "email_verified", "family_name", "gender", "given_name",
    "locale", "middle_name", "name", "nickname", "phone_number", "phone_number_verified",
    "picture", "preferred_username", "profile", "updated_at", "website", "zoneinfo",
})  # fmt: skip

# The calls whose fields the layer checks: the three unauthenticated sign-up calls, the sign-in
# after them and the one admin call the service makes (reconciliation), each with the members its
# model names.
_SIGN_UP_CALL = ("ClientId", "SecretHash", "Username", "AnalyticsMetadata", "UserContextData")
MEMBERS = {
    "SignUp": frozenset(
        {*_SIGN_UP_CALL, "ClientMetadata", "Password", "UserAttributes", "ValidationData"}
    ),
    "ConfirmSignUp": frozenset(
        {*_SIGN_UP_CALL, "ClientMetadata", "ConfirmationCode", "ForceAliasCreation", "Session"}
    ),
    "ResendConfirmationCode": frozenset({*_SIGN_UP_CALL, "ClientMetadata"}),
    "InitiateAuth": frozenset(
        {
            "AuthFlow",
            "AuthParameters",
            "ClientId",
            "ClientMetadata",
            "AnalyticsMetadata",
            "UserContextData",
            "Session",
        }
    ),
    "ListUsers": frozenset({"UserPoolId", "AttributesToGet", "Limit", "PaginationToken", "Filter"}),
}
# Password is optional, as in the model: whether a sign-up may leave it out is the pool's setting
# (EmbeddedCognito.passwordless), checked with the call rather than with the limits.
_REQUIRED = {
    "SignUp": ("ClientId", "Username"),
    "ConfirmSignUp": ("ClientId", "Username", "ConfirmationCode"),
    "ResendConfirmationCode": ("ClientId", "Username"),
    "InitiateAuth": ("ClientId", "AuthFlow"),
    "ListUsers": ("UserPoolId",),
}
# Calls that Cognito takes unsigned and that moto answers as Cognito would: relayed as they are.
UNSIGNED_RELAYS = frozenset({"GetUser"})

_CLIENT_ID = re.compile(r"[\w+]+", re.ASCII)
_SECRET_HASH = re.compile(r"[\w+=/]+", re.ASCII)
# Java's \S, as the service model means it: only ASCII whitespace counts as whitespace.
_NO_WHITESPACE = re.compile(r"[\S]+", re.ASCII)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+[0-9]{4,15}")


def secret_hash_of(username: str, client_id: str, client_secret: str) -> str:
    """SECRET_HASH as Cognito computes it, written here again rather than imported from the app,
    so that the app's is checked against an independent one (docs/cognito.md, "SECRET_HASH")."""
    message = (username + client_id).encode("utf-8")
    digest = hmac.new(client_secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class CognitoError(Exception):
    """A Cognito error answer: ``__type`` and ``message``, the code again in x-amzn-ErrorType."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def body(self) -> bytes:
        return json.dumps({"__type": self.code, "message": self.message}).encode()

    def headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": self.code}

    def response(self) -> Response:
        return Response(self.body(), self.status, self.headers(), content_type=CONTENT_TYPE)


def code_delivery(attributes: Mapping[str, str]) -> dict[str, str] | None:
    """Where a code goes, masked as Cognito masks it: the email (``j***@e***``), else by SMS."""
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


def password_problem(password: str) -> str | None:
    """The first rule of PASSWORD_POLICY that ``password`` breaks, in Cognito's words."""
    rules = (
        ("MinimumLength", len(password) >= PASSWORD_POLICY["MinimumLength"], "not long enough"),
        ("RequireUppercase", re.search("[A-Z]", password), "must have uppercase characters"),
        ("RequireLowercase", re.search("[a-z]", password), "must have lowercase characters"),
        ("RequireNumbers", re.search("[0-9]", password), "must have numeric characters"),
        ("RequireSymbols", re.search(r"[^\w\s]|_", password), "must have symbol characters"),
    )
    for setting, met, problem in rules:
        if PASSWORD_POLICY[setting] and not met:
            return f"Password {problem}"
    return None


@dataclass(frozen=True)
class Breach:
    """A limit a call broke: ``field`` for people, ``path`` as AWS's validation messages name it."""

    field: str
    path: str
    problem: str


class _Limits:
    """Collects every breach of the service model's limits in one call's parameters."""

    def __init__(self) -> None:
        self.breaches: list[Breach] = []

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

    def required(self, params: Params, name: str) -> bool:
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
        self.breaches.append(Breach(field_name, path, problem))


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


def limits_broken(operation: str, params: Params) -> list[Breach]:
    """Every limit of docs/cognito.md (and every type) that ``params`` of ``operation`` breaks."""
    limits = _Limits()
    for name in sorted(set(params) - MEMBERS[operation]):
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
    if "Password" in params:
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
        limits.string(params["Session"], "Session", "session", low=20, high=2048)
    if "AuthFlow" in present:
        limits.string(params["AuthFlow"], "AuthFlow", "authFlow", low=1)
    if "AuthParameters" in params:
        auth = limits.mapping(params["AuthParameters"], "AuthParameters", "authParameters")
        for key, value in (auth or {}).items():
            limits.string(value, f"AuthParameters[{key!r}]", f"authParameters.{key}")
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


def _validation_error(breaches: list[Breach]) -> CognitoError:
    """AWS's answer to a call past its limits; values are left out, they can be secrets."""
    details = "; ".join(
        f"Value at '{breach.path}' failed to satisfy constraint: {breach.problem}"
        for breach in breaches
    )
    noun = "error" if len(breaches) == 1 else "errors"
    return CognitoError(
        "InvalidParameterException", f"{len(breaches)} validation {noun} detected: {details}"
    )


def operation_of(request: Request) -> str:
    """The Cognito operation an ``X-Amz-Target`` names, or "" for none of Cognito's."""
    target = request.headers.get("X-Amz-Target", "")
    return target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""


def is_jwks(request: Request) -> bool:
    return request.method == "GET" and request.path.endswith(JWKS_PATH)


def _attributes(items: object) -> dict[str, str]:
    """A Cognito ``[{"Name": ..., "Value": ...}]`` list as a dictionary."""
    return {
        str(item["Name"]): str(item.get("Value", ""))
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and "Name" in item
    }


def _json_answer(answer: Params) -> Response:
    return Response(json.dumps(answer), 200, content_type=CONTENT_TYPE)


@dataclass
class _Code:
    value: str
    sent: float  # time.monotonic()
    failures: int = 0


# A Session's stages: issued by SignUp for ConfirmSignUp, then by ConfirmSignUp for InitiateAuth.
_SIGNED_UP = "signed up"
_CONFIRMED = "confirmed"


@dataclass(frozen=True)
class _Session:
    username: str
    stage: str  # _SIGNED_UP or _CONFIRMED
    issued: float  # time.monotonic()


def _unusable_password() -> str:
    """A password for moto, which needs one, when the user signed up without: random, meeting
    PASSWORD_POLICY (the suffix brings each kind of character), and handed to nobody."""
    return secrets.token_urlsafe(32) + "Aa1"


# moto's words where Cognito's differ (moto names the user, for one).
_COGNITO_WORDS = {"UsernameExistsException": "User already exists"}
_USER_NOT_FOUND = ("UserNotFoundException", "Username/client id combination not found.")
_INVALID_SESSION = ("NotAuthorizedException", "Invalid session for the user.")
_EXPIRED_SESSION = ("NotAuthorizedException", "Invalid session for the user, session is expired.")


class _QuietHandler(WSGIRequestHandler):
    """No access log: the imitation's request lines would pass for the service's own."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class EmbeddedCognito:
    """One user pool and one app client (with a secret): moto behind the strict layer, served
    over HTTP by a background thread. A WSGI application itself, and a context manager."""

    region = "us-east-1"
    code_lifetime_seconds: float = CODE_LIFETIME_SECONDS
    session_validity_seconds: float = SESSION_VALIDITY_SECONDS
    user_pool_id: str  # this and the next two are moto's, set by start()
    client_id: str
    client_secret: str

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # Imported here: bench/standin.py borrows this module's wire format and stays moto-free.
        from moto.server import create_backend_app

        self._moto: WSGIApplication = create_backend_app("cognito-idp")
        self._host, self._port = host, port
        self.violations: list[str] = []  # every limit a call broke, as "<operation> <field>: ..."
        self._codes: dict[str, _Code] = {}  # username -> the code last sent
        # Both read at each call, so that a test can change the pool's settings between calls.
        self.user_auth = True  # the app client allows USER_AUTH: SignUp hands out a Session
        self.passwordless = True  # the pool allows EMAIL_OTP/SMS_OTP first: Password is optional
        self._sessions: dict[str, _Session] = {}  # the Session itself -> whose and when
        self._lock = threading.Lock()
        # moto's models are plain dicts: ListUsers iterating while a SignUp adds a user would fail.
        self._moto_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # Serving

    def start(self) -> EmbeddedCognito:
        """Create the user pool and its app client, then serve."""
        if self._server is not None:
            raise RuntimeError("the embedded Cognito is already serving")
        self._create_pool_and_client()
        self._server = make_server(
            self._host, self._port, self, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="embedded-cognito",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. moto's pool lives on in this process."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> EmbeddedCognito:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("start the embedded Cognito before asking for its endpoint")
        return f"http://{self._host}:{self._server.server_port}"

    def settings(self) -> dict[str, str]:
        """The environment variables that point the service at this endpoint."""
        return cognito_environment(
            user_pool_id=self.user_pool_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            region=self.region,
            endpoint_url=self.endpoint_url,
        )

    def code_for(self, username: str) -> str:
        """The confirmation code last sent to ``username``; KeyError when none was."""
        with self._lock:
            code = self._codes.get(username)
        if code is None:
            raise KeyError(f"no confirmation code was sent to {username!r}")
        return code.value

    def reset(self) -> None:
        """Forget every user, code, Session and violation; the pool and its app client stay."""
        for user in list(self._pool_users()):
            self._call_moto(
                "AdminDeleteUser", {"UserPoolId": self.user_pool_id, "Username": user["Username"]}
            )
        with self._lock:
            self._codes.clear()
            self._sessions.clear()
            self.violations.clear()

    # HTTP

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = self.answer(Request(environ))
        response.headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))
        return response(environ, start_response)

    def answer(self, request: Request) -> Response:
        """Cognito's answer to one HTTP request."""
        try:
            return self._answer(request)
        except CognitoError as error:
            return error.response()

    def _answer(self, request: Request) -> Response:
        if is_jwks(request):
            return self._jwks(request)
        operation = operation_of(request)
        if request.method != "POST" or not operation:
            target = request.headers.get("X-Amz-Target", "")
            raise CognitoError("UnknownOperationException", f"Unknown operation {target!r}")
        params = self._params(operation, request)
        if operation in MEMBERS:
            breaches = self.record_breaches(operation, params)
            if breaches:
                raise _validation_error(breaches)
        sign_up_call = {
            "SignUp": self._sign_up,
            "ConfirmSignUp": self._confirm_sign_up,
            "ResendConfirmationCode": self._resend_confirmation_code,
        }.get(operation)
        if sign_up_call is not None:
            self._authenticate(params["ClientId"], params["Username"], params.get("SecretHash"))
            return _json_answer(sign_up_call(request, params))
        if operation == "InitiateAuth":
            return _json_answer(self._initiate_auth(request, params))
        # Any other call reaches moto as it is, if signed with IAM credentials as admin calls are
        # (the signature itself is not checked), or if Cognito too takes it unsigned.
        signed = request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 ")
        if not signed and operation not in UNSIGNED_RELAYS:
            raise CognitoError(
                "MissingAuthenticationTokenException", "Missing Authentication Token", 403
            )
        return self._relay(request, operation)

    def _params(self, operation: str, request: Request) -> Params:
        try:
            params = json.loads(request.get_data() or b"{}")
        except ValueError:
            params = None
        if isinstance(params, dict):
            return params
        if operation in MEMBERS:
            with self._lock:
                self.violations.append(f"{operation}: the body is not a JSON object")
        raise CognitoError(
            "SerializationException", "Start of structure or map found where not expected."
        )

    def record_breaches(self, operation: str, params: Params) -> list[Breach]:
        """The limits ``params`` break, each also kept in ``violations``."""
        breaches = limits_broken(operation, params)
        with self._lock:
            self.violations.extend(f"{operation} {b.field}: {b.problem}" for b in breaches)
        return breaches

    def _check_client(self, client_id: str) -> None:
        if client_id != self.client_id:
            raise CognitoError(
                "ResourceNotFoundException", f"User pool client {client_id} does not exist."
            )

    def _authenticate(self, client_id: str, username: str, sent_hash: str | None) -> None:
        """Only our app client, and only with the secret hash over the username sent: SecretHash
        in the sign-up calls, AuthParameters' SECRET_HASH in InitiateAuth."""
        self._check_client(client_id)
        if sent_hash is None:
            message = (
                f"Client {client_id} is configured with secret but SECRET_HASH was not received"
            )
            raise CognitoError("NotAuthorizedException", message)
        expected = secret_hash_of(username, client_id, self.client_secret)
        if not hmac.compare_digest(sent_hash.encode(), expected.encode()):
            message = f"Unable to verify secret hash for client {client_id}"
            raise CognitoError("NotAuthorizedException", message)

    def _jwks(self, request: Request) -> Response:
        pool_id = request.path.removesuffix(JWKS_PATH).strip("/")
        try:
            self._call_moto("DescribeUserPool", {"UserPoolId": pool_id})
        except CognitoError:
            # moto would serve its keys for any pool; Cognito knows only the pools that exist.
            body = json.dumps({"message": f"User pool {pool_id} does not exist."})
            return Response(body, 404, content_type="application/json")
        return self._relay(request, "GetJwks")

    # The sign-up calls: limits and SecretHash already checked

    def _sign_up(self, request: Request, params: Params) -> Params:
        username = params["Username"]
        attributes = _attributes(params.get("UserAttributes"))
        if "Password" in params:
            problem = password_problem(params["Password"])
            if problem:
                message = f"Password did not conform with policy: {problem}"
                raise CognitoError("InvalidPasswordException", message)
        else:
            self._check_passwordless(username, attributes)
        if "email" in attributes and not _EMAIL.fullmatch(attributes["email"]):
            raise CognitoError("InvalidParameterException", "Invalid email address format.")
        if "phone_number" in attributes and not _PHONE.fullmatch(attributes["phone_number"]):
            raise CognitoError("InvalidParameterException", "Invalid phone number format.")
        if "Password" not in params:
            params = {**params, "Password": _unusable_password()}
        answer = self._relayed(request, "SignUp", params)
        answer.pop("CodeDeliveryDetails", None)
        delivery = code_delivery(attributes)
        if delivery:
            answer["CodeDeliveryDetails"] = delivery
        if self.user_auth:
            answer["Session"] = self._issue_session(username, _SIGNED_UP)
        self._send_code(username)
        return answer

    def _check_passwordless(self, username: str, attributes: Mapping[str, str]) -> None:
        """A sign-up without Password: only in a passwordless pool, and only with somewhere to
        send the one-time codes that replace the password."""
        if not self.passwordless:
            message = "Password is required: the user pool does not allow passwordless sign-in."
            raise CognitoError("InvalidParameterException", message)
        reachable = (
            attributes.get("email")
            or attributes.get("phone_number")
            or _EMAIL.fullmatch(username)
            or _PHONE.fullmatch(username)
        )
        if not reachable:
            message = "A sign-up without Password needs an email address or a phone number."
            raise CognitoError("InvalidParameterException", message)

    def _confirm_sign_up(self, request: Request, params: Params) -> Params:
        username = params["Username"]
        user = self._find_user(username)
        if user is None:
            raise CognitoError(*_USER_NOT_FOUND)
        if user["UserStatus"] == "CONFIRMED":
            message = "User cannot be confirmed. Current status is CONFIRMED"
            raise CognitoError("NotAuthorizedException", message)
        # The code first: a wrong one is CodeMismatch, and counts as a failure, whatever the
        # Session. A Session sent must then be the live one SignUp gave this user.
        self._check_code(username, params["ConfirmationCode"])
        if "Session" in params:
            with self._lock:
                issued = self._sessions.get(params["Session"])
            self._check_session(issued, username, _SIGNED_UP)
        answer = self._relayed(request, "ConfirmSignUp")
        if "Session" in params:
            with self._lock:
                self._sessions.pop(params["Session"], None)
            answer["Session"] = self._issue_session(username, _CONFIRMED)
        return answer

    def _resend_confirmation_code(self, request: Request, params: Params) -> Params:
        username = params["Username"]
        user = self._find_user(username)
        if user is None:
            raise CognitoError(*_USER_NOT_FOUND)
        if user["UserStatus"] == "CONFIRMED":
            raise CognitoError("InvalidParameterException", "User is already confirmed.")
        self._send_code(username)
        delivery = code_delivery(_attributes(user.get("UserAttributes")))
        return {"CodeDeliveryDetails": delivery} if delivery else {}

    # The sign-in after sign-up: limits checked, the secret hash not yet (it is in AuthParameters)

    def _initiate_auth(self, request: Request, params: Params) -> Params:
        """USER_AUTH with the Session ConfirmSignUp returned, answered here; any other flow is
        moto's (REFRESH_TOKEN_AUTH and USER_PASSWORD_AUTH among them)."""
        if params["AuthFlow"] != "USER_AUTH":
            return self._relayed(request, "InitiateAuth")
        client_id = params["ClientId"]
        self._check_client(client_id)
        if not self.user_auth:
            message = "The USER_AUTH flow is not enabled for this client."
            raise CognitoError("InvalidParameterException", message)
        auth = params.get("AuthParameters") or {}
        username = auth.get("USERNAME")
        if username is None:
            raise CognitoError("InvalidParameterException", "Missing required parameter USERNAME")
        self._authenticate(client_id, username, auth.get("SECRET_HASH"))
        session = params.get("Session")
        if session is None:
            # Cognito would go on to a challenge (a code, a passkey); the embedded one has none.
            message = (
                "The embedded Cognito signs in with USER_AUTH only with the Session that "
                "ConfirmSignUp returned."
            )
            raise CognitoError("InvalidParameterException", message)
        user = self._find_user(username)
        if user is None:
            raise CognitoError(*_INVALID_SESSION)
        if user["UserStatus"] != "CONFIRMED":
            raise CognitoError("UserNotConfirmedException", "User is not confirmed.")
        with self._lock:
            issued = self._sessions.pop(session, None)  # good for one try, whatever its outcome
        self._check_session(issued, username, _CONFIRMED)
        return {"AuthenticationResult": self._mint_tokens(username), "ChallengeParameters": {}}

    # Sessions: opaque, each for one user at one stage, each good for session_validity_seconds

    def _issue_session(self, username: str, stage: str) -> str:
        session = secrets.token_urlsafe(96)  # 128 characters, within the model's 20 to 2048
        now = time.monotonic()
        with self._lock:
            for old, issued in list(self._sessions.items()):
                if now - issued.issued > self.session_validity_seconds:
                    del self._sessions[old]
            self._sessions[session] = _Session(username, stage, now)
        return session

    def _check_session(self, issued: _Session | None, username: str, stage: str) -> None:
        """NotAuthorized unless the Session sent was issued (``issued`` is None when it was not)
        to ``username`` at ``stage``, and is not expired."""
        if issued is None or issued.username != username or issued.stage != stage:
            raise CognitoError(*_INVALID_SESSION)
        if time.monotonic() - issued.issued > self.session_validity_seconds:
            raise CognitoError(*_EXPIRED_SESSION)

    def _check_code(self, username: str, sent: str) -> None:
        with self._lock:
            code = self._codes.get(username)
            if code is not None and code.failures >= MAX_FAILED_ATTEMPTS:
                message = "Too many failed attempts: request a new code."
                raise CognitoError("TooManyFailedAttemptsException", message)
            if code is None or not hmac.compare_digest(sent.encode(), code.value.encode()):
                if code is not None:
                    code.failures += 1
                message = "Invalid verification code provided, please try again."
                raise CognitoError("CodeMismatchException", message)
            if time.monotonic() - code.sent > self.code_lifetime_seconds:
                message = "Invalid code provided, please request a code again."
                raise CognitoError("ExpiredCodeException", message)

    def _send_code(self, username: str) -> None:
        """Replace any code sent before with a new, different one, and deliver it."""
        with self._lock:
            previous = self._codes[username].value if username in self._codes else None
            value = previous
            while value == previous:
                value = f"{secrets.randbelow(1_000_000):06d}"
            self._codes[username] = _Code(value, time.monotonic())
        self.deliver(username, value)

    def deliver(self, username: str, code: str) -> None:
        """Where Cognito would email the code: logged, so a developer can finish the flow; the
        fields again on their own, for whatever reads the JSON line."""
        logger.warning(
            "Confirmation code for %s: %s",
            username,
            code,
            extra={"username": username, "confirmation_code": code},
        )

    # moto

    def _relayed(self, request: Request, operation: str, params: Params | None = None) -> Params:
        """moto's answer to this request (with ``params`` as its body, if given), decoded; its
        refusal as Cognito words it."""
        body = None if params is None else json.dumps(params).encode()
        response = self._relay(request, operation, body)
        answer = json.loads(response.get_data() or b"{}")
        if response.status_code != 200:
            code = answer.get("__type", "InternalErrorException")
            raise CognitoError(code, _COGNITO_WORDS.get(code, answer.get("message", "")))
        return answer

    def _relay(self, request: Request, operation: str, body: bytes | None = None) -> Response:
        body = request.get_data() if body is None else body
        # The layer read the body: moto gets a fresh copy of it.
        environ = {**request.environ, "wsgi.input": io.BytesIO(body)}
        environ["CONTENT_LENGTH"] = str(len(body))
        return self._moto_response(environ, operation)

    def _call_moto(self, operation: str, params: Params) -> Params:
        """The layer's own call to moto, unsigned and unchecked; a CognitoError if refused."""
        environ = EnvironBuilder(
            method="POST",
            data=json.dumps(params),
            headers={"X-Amz-Target": TARGET_PREFIX + operation},
            content_type=CONTENT_TYPE,
        ).get_environ()
        response = self._moto_response(environ, operation)
        answer = json.loads(response.get_data() or b"{}")
        if response.status_code != 200:
            code = answer.get("__type", "InternalErrorException")
            raise CognitoError(code, answer.get("message", ""), response.status_code)
        return answer

    def _moto_response(self, environ: WSGIEnvironment, operation: str) -> Response:
        with self._moto_lock:
            try:
                return Response.from_app(self._moto, environ, buffered=True)
            except NotImplementedError:
                raise CognitoError(
                    "UnknownOperationException", f"Unknown operation {operation!r}"
                ) from None
            except Exception as error:
                # Any failure of moto is this endpoint's 500. Its type only: moto's messages
                # can carry request values.
                logger.error("moto failed on %s: %s", operation, type(error).__name__)
                raise CognitoError(
                    "InternalErrorException", "The embedded Cognito failed.", 500
                ) from None

    def _mint_tokens(self, username: str) -> Params:
        """Tokens for ``username``, made by moto's own pool as its sign-ins make them: signed
        with the keys the JWKS path serves, and known to moto (GetUser, REFRESH_TOKEN_AUTH)."""
        # Imported here, as create_backend_app is: bench/standin.py stays moto-free.
        from moto.cognitoidp.models import cognitoidp_backends
        from moto.core import DEFAULT_ACCOUNT_ID

        with self._moto_lock:
            backend = cognitoidp_backends[DEFAULT_ACCOUNT_ID][self.region]
            pool = backend.user_pools[self.user_pool_id]
            refresh_token, origin_jti = pool.create_refresh_token(self.client_id, username)
            access_token, expires_in = pool.create_access_token(
                self.client_id, username, origin_jti
            )
            id_token, _ = pool.create_id_token(self.client_id, username, origin_jti)
        return {
            "AccessToken": access_token,
            "ExpiresIn": expires_in,
            "TokenType": "Bearer",
            "RefreshToken": refresh_token,
            "IdToken": id_token,
        }

    def _find_user(self, username: str) -> Params | None:
        """moto's AdminGetUser answer for this user, or None when the pool has no such user."""
        try:
            return self._call_moto(
                "AdminGetUser", {"UserPoolId": self.user_pool_id, "Username": username}
            )
        except CognitoError as error:
            if error.code == "UserNotFoundException":
                return None
            raise

    def _pool_users(self) -> Iterator[Params]:
        """Every user of the pool, as ListUsers shows them."""
        params: Params = {"UserPoolId": self.user_pool_id, "Limit": LIST_USERS_MAX}
        while True:
            page = self._call_moto("ListUsers", params)
            yield from page.get("Users", [])
            if not page.get("PaginationToken"):
                return
            params["PaginationToken"] = page["PaginationToken"]

    def _create_pool_and_client(self) -> None:
        policy = {
            **PASSWORD_POLICY,
            # moto's own setting, not Cognito's: without it moto refuses passwords of 99
            # characters or more, where Cognito takes up to 256 (checked above).
            "MaximumLength": 257,
        }
        pool = self._call_moto(
            "CreateUserPool",
            {
                "PoolName": "signup-local",
                "AutoVerifiedAttributes": ["email"],
                "Policies": {"PasswordPolicy": policy},
            },
        )["UserPool"]
        client = self._call_moto(
            "CreateUserPoolClient",
            {
                "UserPoolId": pool["Id"],
                "ClientName": "signup-service",
                "GenerateSecret": True,
                "ExplicitAuthFlows": [
                    "ALLOW_USER_AUTH",
                    "ALLOW_REFRESH_TOKEN_AUTH",
                    "ALLOW_USER_PASSWORD_AUTH",
                ],
            },
        )["UserPoolClient"]
        self.user_pool_id = pool["Id"]
        self.client_id = client["ClientId"]
        self.client_secret = client["ClientSecret"]
