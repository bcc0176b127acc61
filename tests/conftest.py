"""Shared fixtures: the app wired to a strict Cognito double over real HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.storage.db import db
from tests.support import databases, servers
from tests.support.cognito_double import CognitoDouble
from tests.support.pwned_range import PwnedRangeServer

REDIS_URL = "redis://127.0.0.1:6379/0"
# Debian's chromium (apt), driven by playwright; `playwright install` is never run.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


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


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the run: playwright's sync API runs one instance per thread.

    Missing, it fails the run under CI=true and skips the test locally.
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# What the browser tests photograph, kept after the run for a person to look at (git ignores it).
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def screenshot() -> Callable[[str], Path]:
    """The path of a named screenshot: tests/artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    return lambda name: ARTIFACTS / f"{name}.png"


@pytest.fixture(scope="session")
def pwned_range_server() -> Iterator[PwnedRangeServer]:
    with PwnedRangeServer() as server:
        yield server


@pytest.fixture
def pwned_range(pwned_range_server: PwnedRangeServer) -> PwnedRangeServer:
    """The local Pwned Passwords range server every app under test checks passwords with."""
    pwned_range_server.reset()
    return pwned_range_server


# For tests about something other than rate limits: budgets no test run can exhaust.
GENEROUS_LIMITS = {
    "SIGNUP_RATE_LIMIT_PER_IP": "100000/minute",
    "SIGNUP_RATE_LIMIT_PER_IDENTITY": "100000/minute",
    "SIGNUP_RATE_LIMIT_GLOBAL": "100000/second",
    "SIGNUP_RATE_LIMIT_CONFIRM_PER_USERNAME": "100000/minute",
}
# The spans a traced sign-up shows, ours and the Cognito call's.
SIGN_UP_SPANS = (
    "signup.per_ip_limit",
    "signup.validate",
    "signup.budgets",
    "signup.record.open",
    "signup.record.settle",
    "Cognito Identity Provider.SignUp",
)


@pytest.fixture(autouse=True)
def _own_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the developer's instance/signups.db, even one that sets no DATABASE_URL."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'unmigrated.db'}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "signups.db"
    databases.migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_database_url(sqlite_template: Path, tmp_path: Path) -> str:
    return databases.copy_sqlite(sqlite_template, tmp_path / "signups.db")


@pytest.fixture(scope="session")
def postgres_session_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated once."""
    with databases.fresh_postgres_database() as url:
        databases.migrate(url)
        yield url


@pytest.fixture
def postgres_database_url(postgres_session_database: str) -> str:
    """The run's PostgreSQL database, emptied for this test."""
    databases.empty_tables(postgres_session_database)
    return postgres_session_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_database_url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: override ``database_url`` with it to run a module on both."""
    return request.getfixturevalue(f"{request.param}_database_url")


@pytest.fixture
def database_url(sqlite_database_url: str) -> str:
    return sqlite_database_url


@pytest.fixture
def settings(
    cognito: CognitoDouble,
    database_url: str,
    pwned_range: PwnedRangeServer,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Environment for an app talking to the double; boto3 finds it through its own env var."""
    for name, value in cognito.settings().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return {
        "COGNITO_TIMEOUT_SECONDS": "2",
        "DATABASE_URL": database_url,
        "SIGNUP_BREACHED_PASSWORD_URL": pwned_range.url,
    }


@contextmanager
def app_talking_to(
    double: CognitoDouble, pwned_range: PwnedRangeServer, **config: str
) -> Iterator[Flask]:
    """An app wired to ``double`` and ``pwned_range``, for module-scoped fixtures that cannot
    use ``settings``.

    boto3 reads its endpoint from the environment when the client is made, hence the variables
    set around create_app only. The app's database connections are closed afterwards.
    """
    with pytest.MonkeyPatch.context() as env:
        for name, value in double.settings().items():
            env.setenv(name, value)
        app = create_app(
            {
                "COGNITO_TIMEOUT_SECONDS": "2",
                "SIGNUP_BREACHED_PASSWORD_URL": pwned_range.url,
                **config,
            }
        )
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def make_app(settings: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Builds apps from ``settings`` plus overrides, and closes their database connections."""
    built: list[Flask] = []

    def build(**overrides: str) -> Flask:
        built.append(create_app({**settings, **overrides}))
        return built[-1]

    yield build
    for app in built:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def signup_body(**overrides: object) -> dict[str, object]:
    """A sign-up that the double accepts; tests override what they are about."""
    body: dict[str, object] = {"email": "ada@example.com", "password": "Correct-h0rse"}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis. Missing, it fails the run under CI=true and skips the test locally."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis at {REDIS_URL} is needed: {type(error).__name__}: {error}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other run uses (tests share the machine's Redis); its keys go afterwards."""
    prefix = f"test-{uuid.uuid4().hex}"
    yield prefix
    forget_keys(redis_url, prefix)


def forget_keys(redis_url: str, prefix: str) -> None:
    """Delete one run's keys, and only those."""
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
    finally:
        client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``served`` the tests of modules that run the service under gunicorn: the only ones
    SIGNUP_SERVING_PATCHES changes, so `make test` runs them once more with it off."""
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and getattr(module, "Gunicorn", None) is servers.Gunicorn:
            item.add_marker(pytest.mark.served)
