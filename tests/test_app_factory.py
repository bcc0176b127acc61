"""The factory: what an app built with and without a user pool does."""

import logging

import pytest

from app import create_app
from app.errors import NotConfigured
from tests.conftest import signup_body


@pytest.fixture
def unconfigured_app(monkeypatch):
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return create_app()


def test_an_app_without_a_pool_still_answers_health_checks(unconfigured_app):
    assert unconfigured_app.test_client().get("/healthz").status_code == 200


def test_an_app_without_a_pool_refuses_signups_with_a_503(unconfigured_app):
    response = unconfigured_app.test_client().post("/register", json=signup_body())

    assert response.status_code == 503
    assert response.json["code"] == "not_configured"


def test_an_app_without_a_pool_warns_of_nothing_when_built(monkeypatch, caplog):
    """`flask db upgrade` builds one: it needs no pool, and `make run` embeds one a second later."""
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)

    create_app()

    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    "headers", [{}, {"Idempotency-Key": "5f0c8a52-6a0e-4f7e-9d2b-8f1d2f4c9a11"}], ids=["", "key"]
)
def test_a_sign_up_refused_without_a_pool_is_logged(unconfigured_app, caplog, headers):
    unconfigured_app.test_client().post("/register", json=signup_body(), headers=headers)

    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [NotConfigured.log_message]


def test_unknown_paths_and_methods_answer_in_the_error_shape(client):
    missing = client.get("/nope")
    wrong_method = client.get("/register")

    assert (missing.status_code, missing.json["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json["code"]) == (405, "method_not_allowed")
    assert "POST" in wrong_method.headers["Allow"]
