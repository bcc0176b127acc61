"""An embedded Cognito for machines with no AWS settings: moto, behind a strict sign-up layer.

moto ignores SecretHash, accepts any confirmation code and has no ResendConfirmationCode. The
``StrictSignUp`` WSGI layer checks the first two and answers the third; every other call reaches
moto untouched. Confirmation codes are logged, so a developer can finish the flow by hand.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import threading
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import boto3
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from app.cognito import secret_hash
from app.config import cognito_environment

logger = logging.getLogger(__name__)

Params = dict[str, Any]

_TARGET = "AWSCognitoIdentityProviderService."
_AWS_JSON = "application/x-amz-json-1.1"


class CognitoError(Exception):
    """A Cognito error answer, in the AWS JSON 1.1 shape botocore turns into a ClientError."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def response(self) -> Response:
        body = json.dumps({"__type": self.code, "message": self.message})
        headers = {"x-amzn-ErrorType": self.code}
        return Response(body, self.status, headers, content_type=_AWS_JSON)


class StrictSignUp:
    """WSGI layer in front of moto: SecretHash and code checks, and ResendConfirmationCode."""

    def __init__(self, moto: WSGIApplication) -> None:
        self._moto = moto
        self._pool_id = self._client_id = self._client_secret = ""
        self._codes: dict[str, str] = {}  # username -> pending confirmation code
        self._lock = threading.Lock()

    def protect(self, user_pool_id: str, client_id: str, client_secret: str) -> None:
        """Accept sign-up calls for this app client only, each with a valid SecretHash."""
        self._pool_id, self._client_id, self._client_secret = user_pool_id, client_id, client_secret

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        action = request.headers.get("X-Amz-Target", "").removeprefix(_TARGET)
        handler = {
            "SignUp": self._sign_up,
            "ConfirmSignUp": self._confirm_sign_up,
            "ResendConfirmationCode": self._resend_confirmation_code,
        }.get(action)
        if request.method != "POST" or handler is None:
            return self._moto(environ, start_response)
        body = request.get_data()
        # We consumed the body: give moto a fresh copy to read.
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        try:
            params = _json_object(body)
            response = handler(environ, params, self._checked_username(params))
        except CognitoError as error:
            response = error.response()
        return response(environ, start_response)

    def _checked_username(self, params: Params) -> str:
        """The Username, once the call is known to come from our client with its secret."""
        client_id, username, sent_hash = (
            params.get(k) for k in ("ClientId", "Username", "SecretHash")
        )
        if not self._client_id or client_id != self._client_id:
            raise CognitoError(
                "ResourceNotFoundException", f"User pool client {client_id} does not exist."
            )
        if not isinstance(username, str) or not username:
            raise CognitoError("InvalidParameterException", "Username is required.")
        if not sent_hash:
            message = (
                f"Client {client_id} is configured with secret but SECRET_HASH was not received"
            )
            raise CognitoError("NotAuthorizedException", message)
        if sent_hash != secret_hash(username, self._client_id, self._client_secret):
            message = f"Unable to verify secret hash for client {client_id}"
            raise CognitoError("NotAuthorizedException", message)
        return username

    def _sign_up(self, environ: WSGIEnvironment, params: Params, username: str) -> Response:
        response = self._forward(environ)
        if response.status_code == 200:
            answer = json.loads(response.get_data())
            email = _attribute(params.get("UserAttributes"), "email")
            if email and "CodeDeliveryDetails" not in answer:
                answer["CodeDeliveryDetails"] = _email_delivery(email)
                response.set_data(json.dumps(answer))
            self._issue_code(username)
        return response

    def _confirm_sign_up(self, environ: WSGIEnvironment, params: Params, username: str) -> Response:
        user = self._find_user(environ, username)
        if user is None:
            return self._forward(environ)  # moto's own UserNotFoundException
        if user["UserStatus"] == "CONFIRMED":
            message = "User cannot be confirmed. Current status is CONFIRMED"
            raise CognitoError("NotAuthorizedException", message)
        with self._lock:
            pending = self._codes.get(username)
        if pending is not None and params.get("ConfirmationCode") != pending:
            message = "Invalid verification code provided, please try again."
            raise CognitoError("CodeMismatchException", message)
        response = self._forward(environ)
        if response.status_code == 200:
            with self._lock:
                self._codes.pop(username, None)
        return response

    def _resend_confirmation_code(
        self, environ: WSGIEnvironment, params: Params, username: str
    ) -> Response:
        user = self._find_user(environ, username)
        if user is None:
            raise CognitoError("UserNotFoundException", "Username/client id combination not found.")
        if user["UserStatus"] == "CONFIRMED":
            raise CognitoError("InvalidParameterException", "User is already confirmed.")
        self._issue_code(username)
        email = _attribute(user.get("UserAttributes"), "email")
        answer = {"CodeDeliveryDetails": _email_delivery(email)} if email else {}
        return Response(json.dumps(answer), 200, content_type=_AWS_JSON)

    def _issue_code(self, username: str) -> None:
        """Replace any pending code with a new, different one, and log it for the developer."""
        with self._lock:
            old = code = self._codes.get(username)
            while code == old:
                code = f"{secrets.randbelow(1_000_000):06d}"
            self._codes[username] = code
        logger.warning("Confirmation code for %s: %s", username, code)

    def _find_user(self, environ: WSGIEnvironment, username: str) -> Params | None:
        """moto's AdminGetUser answer for this user, or None when the pool has no such user."""
        body = json.dumps({"UserPoolId": self._pool_id, "Username": username}).encode()
        # A copy of this request, unsigned so that moto routes it by X-Amz-Target alone.
        query = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        query["HTTP_X_AMZ_TARGET"] = _TARGET + "AdminGetUser"
        query.pop("HTTP_AUTHORIZATION", None)
        response = self._forward(query)
        if response.status_code == 200:
            return json.loads(response.get_data())
        if response.headers.get("x-amzn-ErrorType") == "UserNotFoundException":
            return None
        raise CognitoError("InternalErrorException", "The embedded Cognito failed.", 500)

    def _forward(self, environ: WSGIEnvironment) -> Response:
        return Response.from_app(self._moto, environ, buffered=True)


def _json_object(body: bytes) -> Params:
    try:
        params = json.loads(body)
    except ValueError:
        params = None
    if not isinstance(params, dict):
        raise CognitoError("SerializationException", "The request body is not a JSON object.")
    return params


def _attribute(attributes: object, name: str) -> str | None:
    """The value of attribute ``name`` in a Cognito ``[{"Name": ..., "Value": ...}]`` list."""
    for item in attributes if isinstance(attributes, list) else []:
        if isinstance(item, dict) and item.get("Name") == name:
            return str(item.get("Value", ""))
    return None


def _email_delivery(email: str) -> dict[str, str]:
    """CodeDeliveryDetails for an email, masked the way Cognito does: ``j***@e***``."""
    local, _, domain = email.partition("@")
    masked = f"{local[:1]}***@{domain[:1]}***"
    return {"Destination": masked, "DeliveryMedium": "EMAIL", "AttributeName": "email"}


class _QuietHandler(WSGIRequestHandler):
    """No access log: the emulator's request lines would pass for the service's own."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class EmbeddedCognito:
    """moto's Cognito behind a strict sign-up layer, served over HTTP on a background thread."""

    region = "us-east-1"
    endpoint_url: str  # this and the next three are set by start()
    user_pool_id: str
    client_id: str
    client_secret: str

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._layer = StrictSignUp(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmbeddedCognito:
        """Serve, then create the user pool and its app client (with a secret)."""
        self._server = make_server(
            self._host, self._port, self._layer, threaded=True, request_handler=_QuietHandler
        )
        self.endpoint_url = f"http://{self._host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._create_pool_and_client()
        self._layer.protect(self.user_pool_id, self.client_id, self.client_secret)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. moto's state lives on in this process."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def settings(self) -> dict[str, str]:
        """The environment variables that point the service at this endpoint."""
        return cognito_environment(
            user_pool_id=self.user_pool_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            region=self.region,
            endpoint_url=self.endpoint_url,
        )

    def _create_pool_and_client(self) -> None:
        # The emulator's own admin set-up: explicit endpoint and dummy credentials, no os.environ.
        admin = boto3.session.Session().client(
            "cognito-idp",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        )
        password_policy = {
            "MinimumLength": 8,
            "RequireUppercase": True,
            "RequireLowercase": True,
            "RequireNumbers": True,
            "RequireSymbols": False,
        }
        try:
            pool = admin.create_user_pool(
                PoolName="signup-local",
                AutoVerifiedAttributes=["email"],
                Policies={"PasswordPolicy": password_policy},
                # Without it moto's CodeDeliveryDetails name a made-up SMS number, not the email.
                AccountRecoverySetting={
                    "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
                },
            )["UserPool"]
            client = admin.create_user_pool_client(
                UserPoolId=pool["Id"], ClientName="signup-service", GenerateSecret=True
            )["UserPoolClient"]
        finally:
            admin.close()
        self.user_pool_id = pool["Id"]
        self.client_id = client["ClientId"]
        self.client_secret = client["ClientSecret"]
