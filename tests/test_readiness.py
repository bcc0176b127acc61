"""GET /readyz: ready only when what a sign-up needs answers; the registry other parts plug into."""

from __future__ import annotations

import threading
import time

import pytest

from app import create_app, readiness
from tests.cognito_double import JWKS
from tests.servers import free_port


def test_ready_when_the_user_pool_answers(client, cognito):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"cognito": "ok"}}
    assert len(cognito.calls(JWKS)) == 1


def test_not_ready_when_cognito_cannot_be_reached(settings, monkeypatch):
    monkeypatch.setenv(
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", f"http://127.0.0.1:{free_port()}"
    )

    response = create_app(settings).test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json == {"status": "not_ready", "checks": {"cognito": "failed"}}


def test_not_ready_when_the_user_pool_does_not_exist(settings, cognito):
    app = create_app({**settings, "COGNITO_USER_POOL_ID": "us-east-1_NoSuchPool"})

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["checks"] == {"cognito": "failed"}


def test_not_ready_when_no_user_pool_is_configured(monkeypatch):
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)

    response = create_app().test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["checks"] == {"cognito": "failed"}


def test_a_slow_cognito_makes_the_probe_answer_not_ready_in_time(client, cognito):
    cognito.delay_seconds = 5

    started = time.monotonic()
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json["checks"]["cognito"] in {"failed", "timeout"}
    assert time.monotonic() - started < readiness.DEADLINE_SECONDS + 1


def test_probes_in_quick_succession_ask_cognito_once(client, cognito):
    answers = [client.get("/readyz").status_code for _ in range(5)]

    assert answers == [200] * 5
    assert len(cognito.calls(JWKS)) == 1


def test_the_cognito_check_can_be_turned_off(settings, cognito):
    app = create_app({**settings, "READYZ_CHECK_COGNITO": "false"})

    response = app.test_client().get("/readyz")

    assert response.json == {"status": "ready", "checks": {}}
    assert cognito.calls(JWKS) == []


def test_healthz_does_not_depend_on_cognito(client, cognito):
    cognito.fail_next(JWKS, "InternalErrorException", status=500)

    assert client.get("/healthz").status_code == 200
    assert cognito.calls(JWKS) == []


# The registry the database and the rate-limit storage plug into


class Broken(RuntimeError):
    pass


def broken() -> None:
    raise Broken("postgresql://signup:hunter2@db/signup refused the connection")


def test_every_registered_check_is_reported_by_name(app, cognito):
    readiness.add_check(app, "database", lambda: None)
    readiness.add_check(app, "rate_limit_storage", broken)

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["checks"] == {
        "cognito": "ok",
        "database": "ok",
        "rate_limit_storage": "failed",
    }


def test_a_failing_check_never_shows_its_error_text(app, cognito, caplog):
    readiness.add_check(app, "database", broken)

    body = app.test_client().get("/readyz").get_data(as_text=True)

    assert "hunter2" not in body
    assert "hunter2" not in caplog.text
    assert "Broken" in caplog.text  # the operator still learns what kind of failure it was


@pytest.fixture
def released() -> threading.Event:
    event = threading.Event()
    yield event
    event.set()  # let the hung check's thread finish


def test_a_hung_check_times_out_without_holding_the_probe(app, cognito, released):
    readiness.add_check(app, "database", lambda: released.wait(30))

    started = time.monotonic()
    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["checks"]["database"] == "timeout"
    assert time.monotonic() - started < readiness.DEADLINE_SECONDS + 1


def test_a_cached_check_replays_its_last_failure_until_it_is_due_again():
    calls = []

    def flaky() -> None:
        calls.append(1)
        raise Broken()

    check = readiness.Cached(flaky, seconds=60)
    for _ in range(3):
        with pytest.raises(Broken):
            check()

    assert len(calls) == 1
