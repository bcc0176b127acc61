"""The embedded Cognito, over real HTTP: what it adds to moto for the three sign-up calls."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from app.cognito import secret_hash
from app.serving.embedded_cognito import EmbeddedCognito

PASSWORD = "Correct-Horse-7"
MASKED_EMAIL = {"Destination": "j***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedCognito]:
    server = EmbeddedCognito().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cognito(embedded: EmbeddedCognito) -> Iterator[Any]:
    client = boto3.session.Session().client(
        "cognito-idp",
        endpoint_url=embedded.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    yield client
    client.close()


@pytest.fixture
def username() -> str:
    """A fresh email-shaped username: the service sends the email as the username by default."""
    return f"jane.{uuid.uuid4().hex[:12]}@example.com"


def identify(embedded: EmbeddedCognito, username: str) -> dict[str, str]:
    return {
        "ClientId": embedded.client_id,
        "Username": username,
        "SecretHash": secret_hash(username, embedded.client_id, embedded.client_secret),
    }


def sign_up(cognito: Any, embedded: EmbeddedCognito, username: str) -> dict[str, Any]:
    return cognito.sign_up(
        **identify(embedded, username),
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": username}],
    )


def logged_codes(caplog: pytest.LogCaptureFixture, username: str) -> list[str]:
    """The confirmation codes logged for ``username``, oldest first."""
    return [
        str(record.args[1])
        for record in caplog.records
        if record.name == "app.serving.embedded_cognito"
        and isinstance(record.args, tuple)
        and record.args[0] == username
    ]


def status_of(cognito: Any, embedded: EmbeddedCognito, username: str) -> str:
    user = cognito.admin_get_user(UserPoolId=embedded.user_pool_id, Username=username)
    return user["UserStatus"]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_settings_point_at_the_endpoint(embedded: EmbeddedCognito) -> None:
    assert embedded.settings() == {
        "COGNITO_USER_POOL_ID": embedded.user_pool_id,
        "COGNITO_CLIENT_ID": embedded.client_id,
        "COGNITO_CLIENT_SECRET": embedded.client_secret,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": embedded.endpoint_url,
    }


def test_sign_up_with_the_right_secret_hash_returns_masked_delivery(
    cognito: Any, embedded: EmbeddedCognito, username: str
) -> None:
    response = sign_up(cognito, embedded, username)

    assert response["UserConfirmed"] is False
    assert response["CodeDeliveryDetails"] == MASKED_EMAIL
    assert status_of(cognito, embedded, username) == "UNCONFIRMED"


@pytest.mark.parametrize(
    ("secret_hash_sent", "message"),
    [
        (None, "Client {client_id} is configured with secret but SECRET_HASH was not received"),
        ("d3JvbmcgaGFzaA==", "Unable to verify secret hash for client {client_id}"),
    ],
    ids=["missing", "wrong"],
)
def test_sign_up_without_a_valid_secret_hash_is_refused(
    cognito: Any,
    embedded: EmbeddedCognito,
    username: str,
    secret_hash_sent: str | None,
    message: str,
) -> None:
    params = {"ClientId": embedded.client_id, "Username": username, "Password": PASSWORD}
    if secret_hash_sent is not None:
        params["SecretHash"] = secret_hash_sent

    with pytest.raises(ClientError) as excinfo:
        cognito.sign_up(**params)

    assert error_of(excinfo) == (
        "NotAuthorizedException",
        message.format(client_id=embedded.client_id),
    )
    with pytest.raises(cognito.exceptions.UserNotFoundException):
        status_of(cognito, embedded, username)


def test_secret_hash_over_another_username_is_refused(
    cognito: Any, embedded: EmbeddedCognito, username: str
) -> None:
    params = {**identify(embedded, "someone.else@example.com"), "Username": username}

    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        cognito.sign_up(**params, Password=PASSWORD)


@pytest.mark.parametrize(
    ("operation", "extra"),
    [
        ("sign_up", {"Password": PASSWORD}),
        ("confirm_sign_up", {"ConfirmationCode": "123456"}),
        ("resend_confirmation_code", {}),
    ],
)
def test_each_sign_up_call_checks_the_secret_hash(
    cognito: Any, embedded: EmbeddedCognito, username: str, operation: str, extra: dict[str, str]
) -> None:
    sign_up(cognito, embedded, username)
    params = {**identify(embedded, username), "SecretHash": "d3JvbmcgaGFzaA==", **extra}

    with pytest.raises(ClientError) as excinfo:
        getattr(cognito, operation)(**params)

    assert error_of(excinfo)[0] == "NotAuthorizedException"


@pytest.mark.parametrize("operation", ["sign_up", "confirm_sign_up", "resend_confirmation_code"])
def test_an_unknown_client_id_is_not_found(
    cognito: Any, embedded: EmbeddedCognito, username: str, operation: str
) -> None:
    params = {
        "ClientId": "unknownclient",
        "Username": username,
        "SecretHash": secret_hash(username, "unknownclient", embedded.client_secret),
        **({"Password": PASSWORD} if operation == "sign_up" else {}),
        **({"ConfirmationCode": "123456"} if operation == "confirm_sign_up" else {}),
    }

    with pytest.raises(ClientError) as excinfo:
        getattr(cognito, operation)(**params)

    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_a_wrong_code_is_refused_and_the_user_stays_unconfirmed(
    cognito: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up(cognito, embedded, username)
    [code] = logged_codes(caplog, username)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    with pytest.raises(ClientError) as excinfo:
        cognito.confirm_sign_up(**identify(embedded, username), ConfirmationCode=wrong)

    assert error_of(excinfo) == (
        "CodeMismatchException",
        "Invalid verification code provided, please try again.",
    )
    assert status_of(cognito, embedded, username) == "UNCONFIRMED"


def test_the_logged_code_confirms_the_user(
    cognito: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up(cognito, embedded, username)
    [code] = logged_codes(caplog, username)

    cognito.confirm_sign_up(**identify(embedded, username), ConfirmationCode=code)

    assert status_of(cognito, embedded, username) == "CONFIRMED"


def test_confirming_a_confirmed_user_is_not_authorized(
    cognito: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up(cognito, embedded, username)
    [code] = logged_codes(caplog, username)
    cognito.confirm_sign_up(**identify(embedded, username), ConfirmationCode=code)

    with pytest.raises(ClientError) as excinfo:
        cognito.confirm_sign_up(**identify(embedded, username), ConfirmationCode=code)

    assert error_of(excinfo) == (
        "NotAuthorizedException",
        "User cannot be confirmed. Current status is CONFIRMED",
    )


def test_confirming_an_unknown_user_is_not_found(
    cognito: Any, embedded: EmbeddedCognito, username: str
) -> None:
    with pytest.raises(cognito.exceptions.UserNotFoundException):
        cognito.confirm_sign_up(**identify(embedded, username), ConfirmationCode="123456")


def test_resend_returns_masked_delivery(
    cognito: Any, embedded: EmbeddedCognito, username: str
) -> None:
    sign_up(cognito, embedded, username)

    response = cognito.resend_confirmation_code(**identify(embedded, username))

    assert response["CodeDeliveryDetails"] == MASKED_EMAIL


def test_a_resent_code_confirms_the_user(
    cognito: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up(cognito, embedded, username)
    cognito.resend_confirmation_code(**identify(embedded, username))
    first, resent = logged_codes(caplog, username)
    assert resent != first

    cognito.confirm_sign_up(**identify(embedded, username), ConfirmationCode=resent)

    assert status_of(cognito, embedded, username) == "CONFIRMED"


def test_resending_invalidates_the_previous_code(
    cognito: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up(cognito, embedded, username)
    cognito.resend_confirmation_code(**identify(embedded, username))
    first, _ = logged_codes(caplog, username)

    with pytest.raises(cognito.exceptions.CodeMismatchException):
        cognito.confirm_sign_up(**identify(embedded, username), ConfirmationCode=first)

    assert status_of(cognito, embedded, username) == "UNCONFIRMED"


def test_resend_for_an_unknown_user_is_not_found(
    cognito: Any, embedded: EmbeddedCognito, username: str
) -> None:
    with pytest.raises(ClientError) as excinfo:
        cognito.resend_confirmation_code(**identify(embedded, username))

    assert error_of(excinfo) == (
        "UserNotFoundException",
        "Username/client id combination not found.",
    )


def test_resend_for_a_confirmed_user_is_invalid(
    cognito: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up(cognito, embedded, username)
    [code] = logged_codes(caplog, username)
    cognito.confirm_sign_up(**identify(embedded, username), ConfirmationCode=code)

    with pytest.raises(ClientError) as excinfo:
        cognito.resend_confirmation_code(**identify(embedded, username))

    assert error_of(excinfo) == ("InvalidParameterException", "User is already confirmed.")
    assert logged_codes(caplog, username) == [code]


def test_secrets_and_passwords_are_never_logged(
    cognito: Any, embedded: EmbeddedCognito, username: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything on the emulator's side, at every level; botocore's own DEBUG output in this
    # test's client is not the emulator's to control, so it stays at the default level.
    for name in ("app", "moto", "werkzeug"):
        caplog.set_level(logging.DEBUG, logger=name)
    sent_hash = identify(embedded, username)["SecretHash"]
    sign_up(cognito, embedded, username)
    cognito.resend_confirmation_code(**identify(embedded, username))
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        cognito.sign_up(
            **{**identify(embedded, username), "SecretHash": "d3JvbmcgaGFzaA=="},
            Password=PASSWORD,
        )
    code = logged_codes(caplog, username)[-1]
    cognito.confirm_sign_up(**identify(embedded, username), ConfirmationCode=code)

    assert logged_codes(caplog, username)  # the capture did see the emulator's log
    for secret in (embedded.client_secret, PASSWORD, sent_hash):
        assert secret not in caplog.text
