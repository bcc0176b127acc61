"""No Cognito user without a record: when the database is down, sign-ups stop before Cognito."""

from __future__ import annotations

import pytest

from tests.conftest import signup_body
from tests.support.servers import free_port


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def unreachable_database(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing_listens_here"
    return "sqlite:////nonexistent-folder/signups.db"


@pytest.fixture
def outage_client(make_app, unreachable_database):
    return make_app(DATABASE_URL=unreachable_database).test_client()


def test_a_signup_is_refused_with_a_503_when_the_database_cannot_be_written(outage_client):
    response = outage_client.post("/register", json=signup_body())

    assert response.status_code == 503
    assert response.json["code"] == "storage_unavailable"
    assert response.headers["Retry-After"] == "5"


def test_cognito_is_not_called_when_the_database_cannot_be_written(outage_client, cognito):
    outage_client.post("/register", json=signup_body())

    assert cognito.calls("SignUp") == []


def test_an_idempotent_signup_is_refused_too(outage_client, cognito):
    response = outage_client.post(
        "/register", json=signup_body(), headers={"Idempotency-Key": "outage-1"}
    )

    assert response.status_code == 503
    assert cognito.calls("SignUp") == []


def test_a_confirmation_still_reaches_cognito_without_its_record(outage_client, cognito):
    # Confirming must not depend on the records: the user already exists in Cognito.
    outage_client.post("/register/confirm", json={"username": "ada@example.com", "code": "1234"})

    assert len(cognito.calls("ConfirmSignUp")) == 1
