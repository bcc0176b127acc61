"""The factory: what an app built with and without a user pool does."""

import pytest

from app import create_app
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


def test_unknown_paths_and_methods_answer_in_the_error_shape(client):
    missing = client.get("/nope")
    wrong_method = client.get("/register")

    assert (missing.status_code, missing.json["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json["code"]) == (405, "method_not_allowed")
    assert "POST" in wrong_method.headers["Allow"]
