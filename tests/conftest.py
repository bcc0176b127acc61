"""Shared fixtures: the app wired to a strict Cognito double over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.cognito_double import CognitoDouble


@pytest.fixture(scope="session")
def cognito_server() -> Iterator[CognitoDouble]:
    with CognitoDouble() as double:
        yield double


@pytest.fixture
def cognito(cognito_server: CognitoDouble) -> CognitoDouble:
    """The strict double, emptied before each test."""
    cognito_server.reset()
    cognito_server.delay_seconds = 0.0
    return cognito_server


@pytest.fixture
def settings(cognito: CognitoDouble, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for an app talking to the double; boto3 finds it through its own env var."""
    for name, value in cognito.settings().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return {"COGNITO_TIMEOUT_SECONDS": "2"}


@pytest.fixture
def app(settings: dict[str, str]) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def signup_body(**overrides: object) -> dict[str, object]:
    """A sign-up that the double accepts; tests override what they are about."""
    body: dict[str, object] = {"email": "ada@example.com", "password": "Correct-h0rse"}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}
