"""The one Cognito imitation (app/serving/embedded_cognito.py): moto behind our strict layer.

Most tests talk to it as the service does, over HTTP with boto3, through the tests' double: the
same imitation with its calls recorded and its codes readable. The last ones start it as `make
run` does and read the codes from its log. SecretHash is sent as the app computes it and checked
by the imitation's own code: each checks the other, and both are checked against AWS's vector.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.jwk import KeySet

from app.cognito import secret_hash
from app.serving.embedded_cognito import (
    MAX_FAILED_ATTEMPTS,
    EmbeddedCognito,
    secret_hash_of,
)
from tests.support.cognito_double import JWKS, CognitoDouble

PASSWORD = "Correct-Horse-7"
MASKED_EMAIL = {"Destination": "j***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
WRONG_HASH = "d3JvbmcgaGFzaA=="

# AWS's published SECRET_HASH vector (docs/cognito.md, "SECRET_HASH").
VECTOR_USERNAME = "username"
VECTOR_CLIENT_ID = "EPswPGbpdBLZnh9XW134hK7qYe"
VECTOR_SECRET = "ps50nb7hd1umdnmlt1xa9nwiscqvdvzy5ijw63vcacd09yihc2b"
VECTOR_HASH = "oUkNFqfm7UjLds8vXFWarT1l3gqORGoztf+EyFmoX2Q="
VECTOR_HASH_SWAPPED = "wCjpQrvgfKZLOmJ4OobAvFw8raF00sEd209G+ROQrKs="

Imitation = EmbeddedCognito | CognitoDouble


def boto3_client(endpoint_url: str) -> Any:
    """Made-up keys: the sign-up calls go unsigned, admin calls are signed with them."""
    return boto3.session.Session().client(
        "cognito-idp",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def idp(cognito_server: CognitoDouble) -> Iterator[Any]:
    client = boto3_client(cognito_server.endpoint_url)
    yield client
    client.close()


@pytest.fixture
def username() -> str:
    """A fresh email-shaped username: the service sends the email as the username by default."""
    return f"jane.{uuid.uuid4().hex[:12]}@example.com"


def identify(imitation: Imitation, username: str) -> dict[str, str]:
    return {
        "ClientId": imitation.client_id,
        "Username": username,
        "SecretHash": secret_hash(username, imitation.client_id, imitation.client_secret),
    }


def sign_up(idp: Any, imitation: Imitation, username: str, **extra: Any) -> dict[str, Any]:
    params = {
        **identify(imitation, username),
        "Password": PASSWORD,
        "UserAttributes": [{"Name": "email", "Value": username}],
        **extra,
    }
    return idp.sign_up(**params)


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def status_of(cognito: CognitoDouble, username: str) -> str | None:
    user = cognito.users().get(username)
    return None if user is None else ("CONFIRMED" if user.confirmed else "UNCONFIRMED")


def post_raw(
    endpoint_url: str, target: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST exactly ``body``; the status, headers and decoded answer, errors included."""
    request = urllib.request.Request(
        endpoint_url,
        body,
        {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), json.load(answer)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.load(error)


# SecretHash


def test_its_secret_hash_matches_aws_s_published_vector() -> None:
    assert secret_hash_of(VECTOR_USERNAME, VECTOR_CLIENT_ID, VECTOR_SECRET) == VECTOR_HASH
    # The message in the wrong order (client id + username) is the known bug's answer.
    assert secret_hash_of(VECTOR_CLIENT_ID, VECTOR_USERNAME, VECTOR_SECRET) == VECTOR_HASH_SWAPPED


def test_a_sign_up_with_the_right_secret_hash_is_accepted(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    response = sign_up(idp, cognito, username)

    assert response["UserConfirmed"] is False
    assert response["UserSub"] == cognito.sub_for(username)
    assert cognito.calls("SignUp")[0].params["SecretHash"] == secret_hash_of(
        username, cognito.client_id, cognito.client_secret
    )
    assert cognito.violations == []


def _swapped_order(cognito: CognitoDouble, username: str) -> str:
    message = (cognito.client_id + username).encode()
    digest = hmac.new(cognito.client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@pytest.mark.parametrize(
    ("hash_sent", "message"),
    [
        (None, "Client {client_id} is configured with secret but SECRET_HASH was not received"),
        (WRONG_HASH, "Unable to verify secret hash for client {client_id}"),
        (_swapped_order, "Unable to verify secret hash for client {client_id}"),
    ],
    ids=["missing", "wrong", "swapped-order"],
)
def test_a_sign_up_without_a_valid_secret_hash_is_refused(
    idp: Any, cognito: CognitoDouble, username: str, hash_sent: Any, message: str
) -> None:
    params = {"ClientId": cognito.client_id, "Username": username, "Password": PASSWORD}
    if hash_sent is not None:
        params["SecretHash"] = hash_sent(cognito, username) if callable(hash_sent) else hash_sent

    with pytest.raises(ClientError) as excinfo:
        idp.sign_up(**params)

    assert error_of(excinfo) == (
        "NotAuthorizedException",
        message.format(client_id=cognito.client_id),
    )
    assert cognito.users() == {}
    assert cognito.violations == []


def test_a_secret_hash_over_another_username_is_refused(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    params = {**identify(cognito, "someone.else@example.com"), "Username": username}

    with pytest.raises(idp.exceptions.NotAuthorizedException):
        idp.sign_up(**params, Password=PASSWORD)


@pytest.mark.parametrize(
    ("operation", "extra"),
    [
        ("sign_up", {"Password": PASSWORD}),
        ("confirm_sign_up", {"ConfirmationCode": "123456"}),
        ("resend_confirmation_code", {}),
    ],
)
def test_each_sign_up_call_checks_the_secret_hash(
    idp: Any, cognito: CognitoDouble, username: str, operation: str, extra: dict[str, str]
) -> None:
    sign_up(idp, cognito, username)
    params = {**identify(cognito, username), "SecretHash": WRONG_HASH, **extra}

    with pytest.raises(ClientError) as excinfo:
        getattr(idp, operation)(**params)

    assert error_of(excinfo)[0] == "NotAuthorizedException"


@pytest.mark.parametrize("operation", ["sign_up", "confirm_sign_up", "resend_confirmation_code"])
def test_an_unknown_client_id_is_not_found(
    idp: Any, cognito: CognitoDouble, username: str, operation: str
) -> None:
    params = {
        "ClientId": "unknownclient",
        "Username": username,
        "SecretHash": secret_hash(username, "unknownclient", cognito.client_secret),
        **({"Password": PASSWORD} if operation == "sign_up" else {}),
        **({"ConfirmationCode": "123456"} if operation == "confirm_sign_up" else {}),
    }

    with pytest.raises(ClientError) as excinfo:
        getattr(idp, operation)(**params)

    assert error_of(excinfo)[0] == "ResourceNotFoundException"


# SignUp


def test_sign_up_answers_with_the_email_masked(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    response = sign_up(idp, cognito, username)

    assert response["CodeDeliveryDetails"] == MASKED_EMAIL
    assert status_of(cognito, username) == "UNCONFIRMED"
    assert cognito.calls("SignUp")[0].params["Username"] == username


def test_without_an_email_the_code_goes_by_sms(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    phone = [{"Name": "phone_number", "Value": "+14155550100"}]

    delivery = sign_up(idp, cognito, username, UserAttributes=phone)["CodeDeliveryDetails"]

    assert delivery == {
        "Destination": "+*******0100",
        "DeliveryMedium": "SMS",
        "AttributeName": "phone_number",
    }


def test_a_taken_username_is_refused_in_cognito_s_words(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)

    with pytest.raises(ClientError) as excinfo:
        sign_up(idp, cognito, username)

    assert error_of(excinfo) == ("UsernameExistsException", "User already exists")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Sh0rt", "Password not long enough"),
        ("alllowercase1", "Password must have uppercase characters"),
        ("ALLUPPERCASE1", "Password must have lowercase characters"),
        ("No-numbers-here", "Password must have numeric characters"),
    ],
)
def test_the_password_policy_is_enforced_in_cognito_s_words(
    idp: Any, cognito: CognitoDouble, username: str, password: str, problem: str
) -> None:
    with pytest.raises(ClientError) as excinfo:
        sign_up(idp, cognito, username, Password=password)

    assert error_of(excinfo) == (
        "InvalidPasswordException",
        f"Password did not conform with policy: {problem}",
    )
    assert cognito.users() == {}


def test_a_password_of_256_characters_is_accepted(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    # moto alone refuses anything from 99 characters on.
    sign_up(idp, cognito, username, Password=PASSWORD + "x" * (256 - len(PASSWORD)))

    assert status_of(cognito, username) == "UNCONFIRMED"


def test_a_malformed_email_is_an_invalid_parameter(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    with pytest.raises(ClientError) as excinfo:
        sign_up(idp, cognito, username, UserAttributes=[{"Name": "email", "Value": "no-at-sign"}])

    assert error_of(excinfo) == ("InvalidParameterException", "Invalid email address format.")


# Field limits: refused before moto, each recorded


@pytest.mark.parametrize(
    ("username", "extra", "field"),
    [
        pytest.param("j" * 129, {}, "Username", id="username-129-chars"),
        pytest.param("jane doe", {}, "Username", id="username-with-a-space"),
        pytest.param("jane", {"Password": "x" * 257}, "Password", id="password-257-chars"),
        pytest.param(
            "jane",
            {"UserContextData": {"IpAddress": "999.0.0.1"}},
            "UserContextData.IpAddress",
            id="invalid-ip",
        ),
        pytest.param(
            "jane",
            {"ValidationData": [{"Name": "note", "Value": "x" * 2049}]},
            "ValidationData[0].Value",
            id="value-2049-chars",
        ),
        pytest.param(
            "jane",
            {"UserAttributes": [{"Name": "plan", "Value": "pro"}]},
            "UserAttributes[0].Name",
            id="custom-attribute-without-prefix",
        ),
        pytest.param(
            "jane",
            {"AnalyticsMetadata": {"AnalyticsEndpointId": "x" * 131073}},
            "AnalyticsMetadata.AnalyticsEndpointId",
            id="endpoint-id-131073-chars",
        ),
    ],
)
def test_a_limit_breach_is_refused_and_recorded(
    idp: Any, cognito: CognitoDouble, username: str, extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(ClientError) as excinfo:
        sign_up(idp, cognito, username, **extra)

    assert error_of(excinfo)[0] == "InvalidParameterException"
    assert len(cognito.violations) == 1
    assert field in cognito.violations[0]
    assert cognito.users() == {}


def test_a_code_with_whitespace_is_refused_and_recorded(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)

    with pytest.raises(ClientError) as excinfo:
        idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode="12 34")

    assert error_of(excinfo)[0] == "InvalidParameterException"
    [violation] = cognito.violations
    assert violation.startswith("ConfirmSignUp ConfirmationCode: ")
    assert status_of(cognito, username) == "UNCONFIRMED"


def test_a_missing_password_is_an_invalid_parameter_in_cognito_s_shape(
    cognito: CognitoDouble, username: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only where the pool is not passwordless. moto alone answers a 500.
    monkeypatch.setattr(cognito, "passwordless", False)
    body = json.dumps(identify(cognito, username)).encode()

    status, headers, answer = post_raw(
        cognito.endpoint_url, "AWSCognitoIdentityProviderService.SignUp", body
    )

    assert status == 400
    assert headers["x-amzn-ErrorType"] == "InvalidParameterException"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert answer == {
        "__type": "InvalidParameterException",
        "message": "Password is required: the user pool does not allow passwordless sign-in.",
    }
    assert cognito.violations == []  # the model makes Password optional: the pool decides
    assert cognito.users() == {}


def test_a_body_that_is_not_a_json_object_is_refused(cognito: CognitoDouble) -> None:
    status, _, answer = post_raw(
        cognito.endpoint_url, "AWSCognitoIdentityProviderService.SignUp", b"[]"
    )

    assert (status, answer["__type"]) == (400, "SerializationException")
    assert cognito.violations == ["SignUp: the body is not a JSON object"]


def test_an_unknown_operation_is_refused(cognito: CognitoDouble) -> None:
    status, headers, _ = post_raw(cognito.endpoint_url, "SomeOtherService.SignUp", b"{}")

    assert (status, headers["x-amzn-ErrorType"]) == (400, "UnknownOperationException")


# ConfirmSignUp


def test_the_code_sent_confirms_the_user(idp: Any, cognito: CognitoDouble, username: str) -> None:
    sign_up(idp, cognito, username)

    idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=cognito.code_for(username))

    assert status_of(cognito, username) == "CONFIRMED"


def test_a_wrong_code_is_refused_and_the_user_stays_unconfirmed(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)
    wrong = f"{(int(cognito.code_for(username)) + 1) % 1_000_000:06d}"

    with pytest.raises(ClientError) as excinfo:
        idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=wrong)

    assert error_of(excinfo) == (
        "CodeMismatchException",
        "Invalid verification code provided, please try again.",
    )
    assert status_of(cognito, username) == "UNCONFIRMED"


def test_an_expired_code_is_refused(
    idp: Any, cognito: CognitoDouble, username: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cognito, "code_lifetime_seconds", -1)
    sign_up(idp, cognito, username)

    with pytest.raises(ClientError) as excinfo:
        idp.confirm_sign_up(
            **identify(cognito, username), ConfirmationCode=cognito.code_for(username)
        )

    assert error_of(excinfo)[0] == "ExpiredCodeException"
    assert status_of(cognito, username) == "UNCONFIRMED"


def test_after_too_many_wrong_codes_only_a_new_code_confirms(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)
    code = cognito.code_for(username)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(MAX_FAILED_ATTEMPTS):
        with pytest.raises(idp.exceptions.CodeMismatchException):
            idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=wrong)

    with pytest.raises(idp.exceptions.TooManyFailedAttemptsException):
        idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=code)

    idp.resend_confirmation_code(**identify(cognito, username))
    idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=cognito.code_for(username))
    assert status_of(cognito, username) == "CONFIRMED"


def test_confirming_a_confirmed_user_is_not_authorized(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)
    code = cognito.code_for(username)
    idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=code)

    with pytest.raises(ClientError) as excinfo:
        idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=code)

    assert error_of(excinfo) == (
        "NotAuthorizedException",
        "User cannot be confirmed. Current status is CONFIRMED",
    )


@pytest.mark.parametrize(
    ("operation", "extra"),
    [("confirm_sign_up", {"ConfirmationCode": "123456"}), ("resend_confirmation_code", {})],
)
def test_confirming_or_resending_for_an_unknown_user_is_not_found(
    idp: Any, cognito: CognitoDouble, username: str, operation: str, extra: dict[str, str]
) -> None:
    with pytest.raises(ClientError) as excinfo:
        getattr(idp, operation)(**identify(cognito, username), **extra)

    assert error_of(excinfo) == (
        "UserNotFoundException",
        "Username/client id combination not found.",
    )


# ResendConfirmationCode


def test_resend_answers_with_the_email_masked(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)

    response = idp.resend_confirmation_code(**identify(cognito, username))

    assert response["CodeDeliveryDetails"] == MASKED_EMAIL


def test_a_resent_code_is_new_and_confirms_the_user(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)
    first = cognito.code_for(username)
    idp.resend_confirmation_code(**identify(cognito, username))
    resent = cognito.code_for(username)
    assert resent != first

    idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=resent)

    assert status_of(cognito, username) == "CONFIRMED"


def test_resending_invalidates_the_previous_code(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)
    first = cognito.code_for(username)
    idp.resend_confirmation_code(**identify(cognito, username))

    with pytest.raises(idp.exceptions.CodeMismatchException):
        idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=first)

    assert status_of(cognito, username) == "UNCONFIRMED"


def test_resend_for_a_confirmed_user_is_an_invalid_parameter(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)
    code = cognito.code_for(username)
    idp.confirm_sign_up(**identify(cognito, username), ConfirmationCode=code)

    with pytest.raises(ClientError) as excinfo:
        idp.resend_confirmation_code(**identify(cognito, username))

    assert error_of(excinfo) == ("InvalidParameterException", "User is already confirmed.")
    assert cognito.code_for(username) == code


# ListUsers and the public keys


def test_list_users_pages_through_the_pool(idp: Any, cognito: CognitoDouble) -> None:
    for name in ("ada", "grace", "katherine"):
        sign_up(idp, cognito, f"{name}@example.com")

    first = idp.list_users(UserPoolId=cognito.user_pool_id, Limit=2)
    second = idp.list_users(
        UserPoolId=cognito.user_pool_id, Limit=2, PaginationToken=first["PaginationToken"]
    )

    listed = [user["Username"] for page in (first, second) for user in page["Users"]]
    assert sorted(listed) == ["ada@example.com", "grace@example.com", "katherine@example.com"]
    assert "PaginationToken" not in second
    assert cognito.violations == []


def test_list_users_unsigned_is_refused(cognito: CognitoDouble) -> None:
    body = json.dumps({"UserPoolId": cognito.user_pool_id}).encode()

    status, headers, _ = post_raw(
        cognito.endpoint_url, "AWSCognitoIdentityProviderService.ListUsers", body
    )

    assert (status, headers["x-amzn-ErrorType"]) == (403, "MissingAuthenticationTokenException")


def test_list_users_past_its_page_limit_is_refused_and_recorded(
    idp: Any, cognito: CognitoDouble
) -> None:
    with pytest.raises(idp.exceptions.InvalidParameterException):
        idp.list_users(UserPoolId=cognito.user_pool_id, Limit=61)

    assert cognito.violations == ["ListUsers Limit: Member must be between 0 and 60"]


def test_the_pool_s_public_keys_are_served_and_recorded(cognito: CognitoDouble) -> None:
    url = f"{cognito.endpoint_url}/{cognito.user_pool_id}/.well-known/jwks.json"

    with urllib.request.urlopen(url, timeout=10) as answer:
        keys = json.load(answer)["keys"]

    assert keys
    assert {"kid", "kty", "n", "e"} <= set(keys[0])
    assert len(cognito.calls(JWKS)) == 1


def test_an_unknown_pool_has_no_public_keys(cognito: CognitoDouble) -> None:
    url = f"{cognito.endpoint_url}/us-east-1_NoSuchPool/.well-known/jwks.json"

    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(url, timeout=10)

    excinfo.value.close()
    assert excinfo.value.code == 404


# Sessions and the USER_AUTH sign-in after confirmation

INVALID_SESSION = ("NotAuthorizedException", "Invalid session for the user.")
EXPIRED_SESSION = ("NotAuthorizedException", "Invalid session for the user, session is expired.")
SHORT_VALIDITY_SECONDS = 0.05


def auth_parameters(imitation: Imitation, username: str) -> dict[str, str]:
    return {
        "USERNAME": username,
        "SECRET_HASH": secret_hash(username, imitation.client_id, imitation.client_secret),
    }


def confirm(idp: Any, imitation: Imitation, username: str, **extra: Any) -> dict[str, Any]:
    code = imitation.code_for(username)
    return idp.confirm_sign_up(**identify(imitation, username), ConfirmationCode=code, **extra)


def sign_in(idp: Any, imitation: Imitation, username: str, session: str) -> dict[str, Any]:
    return idp.initiate_auth(
        ClientId=imitation.client_id,
        AuthFlow="USER_AUTH",
        AuthParameters=auth_parameters(imitation, username),
        Session=session,
    )


def confirmed_session(idp: Any, cognito: CognitoDouble, username: str) -> str:
    """The Session ConfirmSignUp returns, for a user signed up and confirmed with Sessions."""
    signed_up = sign_up(idp, cognito, username)
    return confirm(idp, cognito, username, Session=signed_up["Session"])["Session"]


def public_keys(imitation: Imitation) -> KeySet:
    url = f"{imitation.endpoint_url}/{imitation.user_pool_id}/.well-known/jwks.json"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return KeySet.import_key_set(json.load(answer))


def verified_claims(imitation: Imitation, token: str) -> dict[str, Any]:
    """The claims of ``token``, once its signature, issuer and expiry are verified."""
    claims = jwt.decode(token, public_keys(imitation), algorithms=["RS256"]).claims
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{imitation.user_pool_id}"
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer}).validate(claims)
    return claims


def test_sign_up_returns_a_session(idp: Any, cognito: CognitoDouble, username: str) -> None:
    first = sign_up(idp, cognito, username)["Session"]
    second = sign_up(idp, cognito, f"other.{username}")["Session"]

    assert 20 <= len(first) <= 2048
    assert first != second


def test_the_app_client_allows_user_auth(idp: Any, cognito: CognitoDouble) -> None:
    client = idp.describe_user_pool_client(
        UserPoolId=cognito.user_pool_id, ClientId=cognito.client_id
    )["UserPoolClient"]

    assert "ALLOW_USER_AUTH" in client["ExplicitAuthFlows"]


def test_without_user_auth_there_is_no_session_and_no_user_auth_sign_in(
    idp: Any, cognito: CognitoDouble, username: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cognito, "user_auth", False)

    assert "Session" not in sign_up(idp, cognito, username)
    assert "Session" not in confirm(idp, cognito, username)
    with pytest.raises(ClientError) as excinfo:
        sign_in(idp, cognito, username, "s" * 40)

    assert error_of(excinfo) == (
        "InvalidParameterException",
        "The USER_AUTH flow is not enabled for this client.",
    )


def test_confirming_with_the_session_returns_a_new_one(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    signed_up = sign_up(idp, cognito, username)["Session"]

    confirmed = confirm(idp, cognito, username, Session=signed_up)["Session"]

    assert 20 <= len(confirmed) <= 2048
    assert confirmed != signed_up
    assert status_of(cognito, username) == "CONFIRMED"


def test_confirming_without_a_session_returns_none(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)

    assert "Session" not in confirm(idp, cognito, username)
    assert status_of(cognito, username) == "CONFIRMED"


def test_user_auth_with_the_confirmation_session_returns_tokens(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    session = confirmed_session(idp, cognito, username)

    response = sign_in(idp, cognito, username, session)

    result = response["AuthenticationResult"]
    assert set(result) == {"AccessToken", "ExpiresIn", "TokenType", "RefreshToken", "IdToken"}
    assert (result["ExpiresIn"], result["TokenType"]) == (3600, "Bearer")
    assert response["ChallengeParameters"] == {}
    assert "Session" not in response
    assert cognito.violations == []


def test_the_tokens_verify_with_the_pool_s_public_keys(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    result = sign_in(idp, cognito, username, confirmed_session(idp, cognito, username))[
        "AuthenticationResult"
    ]

    id_claims = verified_claims(cognito, result["IdToken"])
    access_claims = verified_claims(cognito, result["AccessToken"])

    sub = cognito.sub_for(username)
    assert (id_claims["token_use"], id_claims["sub"]) == ("id", sub)
    assert (id_claims["cognito:username"], id_claims["aud"]) == (username, cognito.client_id)
    assert (access_claims["token_use"], access_claims["sub"]) == ("access", sub)
    assert (access_claims["username"], access_claims["client_id"]) == (username, cognito.client_id)


def test_get_user_unsigned_with_the_access_token_answers_the_user(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    result = sign_in(idp, cognito, username, confirmed_session(idp, cognito, username))[
        "AuthenticationResult"
    ]
    body = json.dumps({"AccessToken": result["AccessToken"]}).encode()

    status, _, answer = post_raw(
        cognito.endpoint_url, "AWSCognitoIdentityProviderService.GetUser", body
    )

    assert (status, answer["Username"]) == (200, username)


def test_the_refresh_token_gets_new_tokens(idp: Any, cognito: CognitoDouble, username: str) -> None:
    result = sign_in(idp, cognito, username, confirmed_session(idp, cognito, username))[
        "AuthenticationResult"
    ]

    refreshed = idp.initiate_auth(
        ClientId=cognito.client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={
            "REFRESH_TOKEN": result["RefreshToken"],
            "SECRET_HASH": auth_parameters(cognito, username)["SECRET_HASH"],
        },
    )["AuthenticationResult"]

    assert verified_claims(cognito, refreshed["IdToken"])["sub"] == cognito.sub_for(username)
    assert refreshed["AccessToken"] != result["AccessToken"]


def test_a_session_signs_in_once(idp: Any, cognito: CognitoDouble, username: str) -> None:
    session = confirmed_session(idp, cognito, username)
    sign_in(idp, cognito, username, session)

    with pytest.raises(ClientError) as excinfo:
        sign_in(idp, cognito, username, session)

    assert error_of(excinfo) == INVALID_SESSION


def test_an_expired_session_does_not_confirm(
    idp: Any, cognito: CognitoDouble, username: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cognito, "session_validity_seconds", SHORT_VALIDITY_SECONDS)
    session = sign_up(idp, cognito, username)["Session"]
    time.sleep(SHORT_VALIDITY_SECONDS * 2)

    with pytest.raises(ClientError) as excinfo:
        confirm(idp, cognito, username, Session=session)

    assert error_of(excinfo) == EXPIRED_SESSION
    assert status_of(cognito, username) == "UNCONFIRMED"


def test_an_expired_session_does_not_sign_in(
    idp: Any, cognito: CognitoDouble, username: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = confirmed_session(idp, cognito, username)
    monkeypatch.setattr(cognito, "session_validity_seconds", SHORT_VALIDITY_SECONDS)
    time.sleep(SHORT_VALIDITY_SECONDS * 2)

    with pytest.raises(ClientError) as excinfo:
        sign_in(idp, cognito, username, session)

    assert error_of(excinfo) == EXPIRED_SESSION


def test_another_user_s_session_does_not_confirm(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)
    others = sign_up(idp, cognito, f"other.{username}")["Session"]

    with pytest.raises(ClientError) as excinfo:
        confirm(idp, cognito, username, Session=others)

    assert error_of(excinfo) == INVALID_SESSION
    assert status_of(cognito, username) == "UNCONFIRMED"


def test_another_user_s_session_does_not_sign_in(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    confirmed_session(idp, cognito, username)
    others = confirmed_session(idp, cognito, f"other.{username}")

    with pytest.raises(ClientError) as excinfo:
        sign_in(idp, cognito, username, others)

    assert error_of(excinfo) == INVALID_SESSION


def test_the_sign_up_session_does_not_sign_in(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    session = sign_up(idp, cognito, username)["Session"]
    confirm(idp, cognito, username)

    with pytest.raises(ClientError) as excinfo:
        sign_in(idp, cognito, username, session)

    assert error_of(excinfo) == INVALID_SESSION


@pytest.mark.parametrize(
    ("hash_sent", "message"),
    [
        (None, "Client {client_id} is configured with secret but SECRET_HASH was not received"),
        (WRONG_HASH, "Unable to verify secret hash for client {client_id}"),
    ],
    ids=["missing", "wrong"],
)
def test_user_auth_without_a_valid_secret_hash_is_not_authorized(
    idp: Any, cognito: CognitoDouble, username: str, hash_sent: str | None, message: str
) -> None:
    session = confirmed_session(idp, cognito, username)
    parameters = {"USERNAME": username}
    if hash_sent is not None:
        parameters["SECRET_HASH"] = hash_sent

    with pytest.raises(ClientError) as excinfo:
        idp.initiate_auth(
            ClientId=cognito.client_id,
            AuthFlow="USER_AUTH",
            AuthParameters=parameters,
            Session=session,
        )

    assert error_of(excinfo) == (
        "NotAuthorizedException",
        message.format(client_id=cognito.client_id),
    )
    assert "AuthenticationResult" in sign_in(idp, cognito, username, session)  # not used up


def test_user_auth_before_confirmation_is_user_not_confirmed(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    session = sign_up(idp, cognito, username)["Session"]

    with pytest.raises(ClientError) as excinfo:
        sign_in(idp, cognito, username, session)

    assert error_of(excinfo) == ("UserNotConfirmedException", "User is not confirmed.")


@pytest.mark.parametrize("missing", ["USERNAME", "Session"])
def test_user_auth_without_a_username_or_session_is_an_invalid_parameter(
    idp: Any, cognito: CognitoDouble, username: str, missing: str
) -> None:
    session = confirmed_session(idp, cognito, username)
    params: dict[str, Any] = {
        "ClientId": cognito.client_id,
        "AuthFlow": "USER_AUTH",
        "AuthParameters": auth_parameters(cognito, username),
        "Session": session,
    }
    params["AuthParameters"].pop(missing, None)
    params.pop(missing, None)

    with pytest.raises(ClientError) as excinfo:
        idp.initiate_auth(**params)

    assert error_of(excinfo)[0] == "InvalidParameterException"
    assert missing in error_of(excinfo)[1]


def test_user_auth_for_an_unknown_client_is_not_found(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    session = confirmed_session(idp, cognito, username)

    with pytest.raises(ClientError) as excinfo:
        idp.initiate_auth(
            ClientId="unknownclient",
            AuthFlow="USER_AUTH",
            AuthParameters=auth_parameters(cognito, username),
            Session=session,
        )

    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        "User pool client unknownclient does not exist.",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"Session": "s" * 19}, "Session", id="session-19-chars"),
        pytest.param({"Session": "s" * 2049}, "Session", id="session-2049-chars"),
        pytest.param(
            {"AuthParameters": {"USERNAME": 7}}, "AuthParameters['USERNAME']", id="not-a-string"
        ),
        pytest.param({"AuthParameters": []}, "AuthParameters", id="not-a-map"),
        pytest.param(
            {"UserContextData": {"IpAddress": "999.0.0.1"}},
            "UserContextData.IpAddress",
            id="invalid-ip",
        ),
        pytest.param({"AuthFlow": None}, "AuthFlow", id="no-auth-flow"),
    ],
)
def test_an_initiate_auth_past_its_limits_is_refused_and_recorded(
    cognito: CognitoDouble, username: str, change: dict[str, Any], field: str
) -> None:
    params = {
        "ClientId": cognito.client_id,
        "AuthFlow": "USER_AUTH",
        "AuthParameters": auth_parameters(cognito, username),
        "Session": "s" * 40,
        **change,
    }
    body = json.dumps({name: value for name, value in params.items() if value is not None})

    status, _, answer = post_raw(
        cognito.endpoint_url, "AWSCognitoIdentityProviderService.InitiateAuth", body.encode()
    )

    assert (status, answer["__type"]) == (400, "InvalidParameterException")
    [violation] = cognito.violations
    assert violation.startswith(f"InitiateAuth {field}: ")


def test_a_passwordless_sign_up_signs_in_with_its_session(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    signed_up = idp.sign_up(
        **identify(cognito, username), UserAttributes=[{"Name": "email", "Value": username}]
    )
    confirmed = confirm(idp, cognito, username, Session=signed_up["Session"])

    result = sign_in(idp, cognito, username, confirmed["Session"])["AuthenticationResult"]

    assert "Password" not in cognito.calls("SignUp")[0].params
    assert signed_up["CodeDeliveryDetails"] == MASKED_EMAIL
    assert verified_claims(cognito, result["IdToken"])["sub"] == signed_up["UserSub"]
    assert cognito.violations == []


def test_a_passwordless_sign_up_needs_an_email_or_a_phone_number(
    idp: Any, cognito: CognitoDouble
) -> None:
    with pytest.raises(ClientError) as excinfo:
        idp.sign_up(**identify(cognito, "jane"))

    assert error_of(excinfo) == (
        "InvalidParameterException",
        "A sign-up without Password needs an email address or a phone number.",
    )
    assert cognito.users() == {}


# The tests' conveniences


def test_fail_next_fails_once(idp: Any, cognito: CognitoDouble, username: str) -> None:
    cognito.fail_next("SignUp", "TooManyRequestsException", "Rate exceeded")

    with pytest.raises(ClientError) as excinfo:
        sign_up(idp, cognito, username)
    assert error_of(excinfo) == ("TooManyRequestsException", "Rate exceeded")

    assert sign_up(idp, cognito, username)["UserConfirmed"] is False
    assert len(cognito.calls("SignUp")) == 2


def test_fail_next_fails_initiate_auth_once(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    session = confirmed_session(idp, cognito, username)
    cognito.fail_next("InitiateAuth", "TooManyRequestsException", "Rate exceeded")

    with pytest.raises(ClientError) as excinfo:
        sign_in(idp, cognito, username, session)
    assert error_of(excinfo) == ("TooManyRequestsException", "Rate exceeded")

    assert "AuthenticationResult" in sign_in(idp, cognito, username, session)
    assert len(cognito.calls("InitiateAuth")) == 2


def test_respond_raw_next_answers_exactly_that(cognito: CognitoDouble, username: str) -> None:
    cognito.respond_raw_next("SignUp", 502, b"<html>Bad Gateway</html>")
    request = urllib.request.Request(
        cognito.endpoint_url,
        json.dumps(identify(cognito, username)).encode(),
        {"X-Amz-Target": "AWSCognitoIdentityProviderService.SignUp"},
    )

    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)

    with excinfo.value as answer:
        assert (answer.code, answer.read()) == (502, b"<html>Bad Gateway</html>")


def test_reset_forgets_users_codes_calls_and_violations(
    idp: Any, cognito: CognitoDouble, username: str
) -> None:
    sign_up(idp, cognito, username)
    with pytest.raises(ClientError):
        sign_up(idp, cognito, "j" * 129)

    cognito.reset()

    assert cognito.users() == {}
    assert (cognito.received, cognito.violations) == ([], [])
    with pytest.raises(KeyError):
        cognito.code_for(username)
    sign_up(idp, cognito, username)  # the pool and its client are still there


def test_reset_forgets_sessions(idp: Any, cognito: CognitoDouble, username: str) -> None:
    session = sign_up(idp, cognito, username)["Session"]

    cognito.reset()

    sign_up(idp, cognito, username)
    with pytest.raises(ClientError) as excinfo:
        confirm(idp, cognito, username, Session=session)
    assert error_of(excinfo) == INVALID_SESSION


# As `make run` starts it: codes logged, nothing secret


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedCognito]:
    with EmbeddedCognito() as server:
        yield server


@pytest.fixture(scope="module")
def embedded_idp(embedded: EmbeddedCognito) -> Iterator[Any]:
    client = boto3_client(embedded.endpoint_url)
    yield client
    client.close()


def logged_codes(caplog: pytest.LogCaptureFixture, username: str) -> list[str]:
    """The confirmation codes logged for ``username``, oldest first."""
    return [
        str(record.args[1])
        for record in caplog.records
        if record.name == "app.serving.embedded_cognito"
        and isinstance(record.args, tuple)
        and record.args[0] == username
    ]


def test_settings_point_at_the_endpoint(embedded: EmbeddedCognito) -> None:
    assert embedded.settings() == {
        "COGNITO_USER_POOL_ID": embedded.user_pool_id,
        "COGNITO_CLIENT_ID": embedded.client_id,
        "COGNITO_CLIENT_SECRET": embedded.client_secret,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": embedded.endpoint_url,
    }


def test_the_logged_codes_confirm_the_user(
    embedded_idp: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up(embedded_idp, embedded, username)
    embedded_idp.resend_confirmation_code(**identify(embedded, username))
    first, resent = logged_codes(caplog, username)
    assert resent != first

    embedded_idp.confirm_sign_up(**identify(embedded, username), ConfirmationCode=resent)

    user = embedded_idp.admin_get_user(UserPoolId=embedded.user_pool_id, Username=username)
    assert user["UserStatus"] == "CONFIRMED"


def test_a_logged_code_carries_the_username_and_the_code_as_fields(
    embedded_idp: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up(embedded_idp, embedded, username)

    [record] = [r for r in caplog.records if getattr(r, "username", None) == username]
    assert record.confirmation_code == logged_codes(caplog, username)[0]


def test_secrets_and_passwords_are_never_logged(
    embedded_idp: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything on the imitation's side, at every level; botocore's own DEBUG output in this
    # test's client is not the imitation's to control, so it stays at the default level.
    for name in ("app", "moto", "werkzeug"):
        caplog.set_level(logging.DEBUG, logger=name)
    sent_hash = identify(embedded, username)["SecretHash"]
    sign_up(embedded_idp, embedded, username)
    embedded_idp.resend_confirmation_code(**identify(embedded, username))
    with pytest.raises(embedded_idp.exceptions.NotAuthorizedException):
        embedded_idp.sign_up(
            **{**identify(embedded, username), "SecretHash": WRONG_HASH}, Password=PASSWORD
        )
    with pytest.raises(embedded_idp.exceptions.InvalidParameterException):
        sign_up(embedded_idp, embedded, username, Password=PASSWORD + " x")
    code = logged_codes(caplog, username)[-1]
    embedded_idp.confirm_sign_up(**identify(embedded, username), ConfirmationCode=code)

    assert logged_codes(caplog, username)  # the capture did see the imitation's log
    for secret in (embedded.client_secret, PASSWORD, sent_hash):
        assert secret not in caplog.text


def test_sessions_and_tokens_are_never_logged(
    embedded_idp: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("app", "moto", "werkzeug"):
        caplog.set_level(logging.DEBUG, logger=name)
    signed_up = sign_up(embedded_idp, embedded, username)
    code = logged_codes(caplog, username)[-1]
    confirmed = embedded_idp.confirm_sign_up(
        **identify(embedded, username), ConfirmationCode=code, Session=signed_up["Session"]
    )
    result = sign_in(embedded_idp, embedded, username, confirmed["Session"])
    with pytest.raises(embedded_idp.exceptions.NotAuthorizedException):
        sign_in(embedded_idp, embedded, username, confirmed["Session"])

    tokens = result["AuthenticationResult"]
    assert logged_codes(caplog, username)  # the capture did see the imitation's log
    for secret in (
        signed_up["Session"],
        confirmed["Session"],
        tokens["AccessToken"],
        tokens["IdToken"],
        tokens["RefreshToken"],
    ):
        assert secret not in caplog.text
