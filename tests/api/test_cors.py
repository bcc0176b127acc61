"""CORS: landing pages on SIGNUP_CORS_ORIGINS may call the JSON endpoints; nobody else may."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.config import ConfigError, Settings
from tests.conftest import signup_body

LANDING = "https://landing.example.com"
OTHER = "https://evil.example.net"


@pytest.fixture
def cors_client(settings, cognito) -> FlaskClient:
    origins = f"{LANDING}, http://localhost:3000"
    return create_app({**settings, "SIGNUP_CORS_ORIGINS": origins}).test_client()


def preflight(client: FlaskClient, path: str, origin: str):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


@pytest.mark.parametrize("path", ["/register", "/register/confirm", "/register/resend"])
def test_a_listed_origin_passes_the_preflight(cors_client, path):
    response = preflight(cors_client, path, LANDING)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == LANDING
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()
    # Credentials, so the sign-in cookies reach a landing page on the same site; only ever
    # granted to a listed origin, named, never to "*".
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


def test_a_listed_origin_can_read_the_answer_and_its_retry_after(cors_client, cognito):
    cognito.fail_next("SignUp", "TooManyRequestsException")

    response = cors_client.post("/register", json=signup_body(), headers={"Origin": LANDING})

    assert response.status_code == 503
    assert response.headers["Access-Control-Allow-Origin"] == LANDING
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    assert "retry-after" in exposed
    assert "x-request-id" in exposed


def test_another_origin_gets_no_grant(cors_client, cognito):
    asked = preflight(cors_client, "/register", OTHER)
    posted = cors_client.post("/register", json=signup_body(), headers={"Origin": OTHER})

    assert "Access-Control-Allow-Origin" not in asked.headers
    assert "Access-Control-Allow-Origin" not in posted.headers


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/openapi.json", "/"])
def test_other_paths_get_no_grant_even_for_a_listed_origin(cors_client, path):
    response = cors_client.get(path, headers={"Origin": LANDING})

    assert "Access-Control-Allow-Origin" not in response.headers


def test_by_default_no_origin_is_granted(client, cognito):
    asked = preflight(client, "/register", LANDING)
    posted = client.post("/register", json=signup_body(), headers={"Origin": LANDING})

    assert "Access-Control-Allow-Origin" not in asked.headers
    assert "Access-Control-Allow-Origin" not in posted.headers


def test_origins_are_compared_as_browsers_send_them():
    settings = Settings.from_env({"SIGNUP_CORS_ORIGINS": "HTTPS://Landing.Example.com:443/"})

    assert settings.cors_origins == {LANDING}


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "landing.example.com",
        "https://landing.example.com/signup",
        "ftp://x.example",
        "https://",
    ],
)
def test_an_entry_that_is_not_an_origin_stops_the_service(value):
    with pytest.raises(ConfigError, match="SIGNUP_CORS_ORIGINS"):
        Settings.from_env({"SIGNUP_CORS_ORIGINS": value})
