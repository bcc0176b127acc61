"""The Cognito double is only worth trusting if it refuses what Cognito refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from app.cognito import secret_hash
from tests.support.cognito_double import CognitoDouble

PASSWORD = "Correct-horse-9"

# AWS's published SECRET_HASH vector (COGNITO.md): the double must agree with it, not just with us.
VECTOR_CLIENT_ID = "EPswPGbpdBLZnh9XW134hK7qYe"
VECTOR_SECRET = "ps50nb7hd1umdnmlt1xa9nwiscqvdvzy5ijw63vcacd09yihc2b"
VECTOR_HASH = "oUkNFqfm7UjLds8vXFWarT1l3gqORGoztf+EyFmoX2Q="
VECTOR_HASH_SWAPPED = "wCjpQrvgfKZLOmJ4OobAvFw8raF00sEd209G+ROQrKs="


def _client(double: CognitoDouble) -> Any:
    return boto3.session.Session().client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=double.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def running() -> Iterator[CognitoDouble]:
    with CognitoDouble() as double:
        yield double


@pytest.fixture
def cognito(running: CognitoDouble) -> CognitoDouble:
    running.reset()
    return running


@pytest.fixture(scope="module")
def client(running: CognitoDouble) -> Iterator[Any]:
    client = _client(running)
    yield client
    client.close()


def _identity(double: CognitoDouble, username: str) -> dict[str, str]:
    return {
        "ClientId": double.client_id,
        "Username": username,
        "SecretHash": secret_hash(username, double.client_id, double.client_secret),
    }


def _sign_up(client: Any, double: CognitoDouble, username: str, **extra: Any) -> dict[str, Any]:
    attributes = [{"Name": "email", "Value": "jane@example.com"}]
    return client.sign_up(
        **_identity(double, username), Password=PASSWORD, UserAttributes=attributes, **extra
    )


@pytest.mark.parametrize(
    ("hash_sent", "error"),
    [
        pytest.param(VECTOR_HASH, None, id="correct"),
        pytest.param(VECTOR_HASH_SWAPPED, "Unable to verify secret hash", id="wrong"),
        pytest.param(None, "SECRET_HASH was not received", id="missing"),
    ],
)
def test_secret_hash_is_checked(hash_sent: str | None, error: str | None) -> None:
    params: dict[str, Any] = {
        "ClientId": VECTOR_CLIENT_ID,
        "Username": "username",
        "Password": PASSWORD,
    }
    if hash_sent:
        params["SecretHash"] = hash_sent
    with CognitoDouble(client_id=VECTOR_CLIENT_ID, client_secret=VECTOR_SECRET) as double:
        client = _client(double)
        try:
            if error is None:
                assert client.sign_up(**params)["UserConfirmed"] is False
            else:
                with pytest.raises(ClientError) as raised:
                    client.sign_up(**params)
                assert raised.value.response["Error"]["Code"] == "NotAuthorizedException"
                assert error in raised.value.response["Error"]["Message"]
        finally:
            client.close()
        assert double.violations == []


def test_sign_up_answers_like_cognito(cognito: CognitoDouble, client: Any) -> None:
    response = _sign_up(client, cognito, "jane")

    assert response["CodeDeliveryDetails"] == {
        "Destination": "j***@e***",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
    assert cognito.calls("SignUp")[0].params["Username"] == "jane"
    assert cognito.violations == []


@pytest.mark.parametrize(
    ("username", "extra", "field"),
    [
        pytest.param("j" * 129, {}, "Username", id="username-129-chars"),
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
    ],
)
def test_limit_breach_is_recorded(
    cognito: CognitoDouble, client: Any, username: str, extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(ClientError) as raised:
        _sign_up(client, cognito, username, **extra)

    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert len(cognito.violations) == 1
    assert field in cognito.violations[0]


def test_fail_next_fails_once(cognito: CognitoDouble, client: Any) -> None:
    cognito.fail_next("SignUp", "TooManyRequestsException", "Rate exceeded")

    with pytest.raises(ClientError) as raised:
        _sign_up(client, cognito, "jane")
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"

    assert _sign_up(client, cognito, "jane")["UserConfirmed"] is False
    assert len(cognito.calls("SignUp")) == 2


def test_confirm_flow(cognito: CognitoDouble, client: Any) -> None:
    _sign_up(client, cognito, "jane")
    wrong = "000000" if cognito.code_for("jane") != "000000" else "111111"

    with pytest.raises(ClientError) as raised:
        client.confirm_sign_up(**_identity(cognito, "jane"), ConfirmationCode=wrong)
    assert raised.value.response["Error"]["Code"] == "CodeMismatchException"

    code = cognito.code_for("jane")
    client.confirm_sign_up(**_identity(cognito, "jane"), ConfirmationCode=code)

    with pytest.raises(ClientError) as raised:
        client.confirm_sign_up(**_identity(cognito, "jane"), ConfirmationCode=code)
    assert raised.value.response["Error"]["Code"] == "NotAuthorizedException"
    assert cognito.violations == []
