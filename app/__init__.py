"""The signup service: a Flask backend-for-frontend that turns sign-up forms into Cognito users."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from app.config import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment; ``config`` overrides environment variables (tests)."""
    settings = Settings.from_env({**os.environ, **(config or {})})
    app = Flask(__name__)
    configure_logging(settings)
    register_tracing(app, settings)
    configure_flask(app, settings)
    register_storage(app)
    register_telemetry(app)
    register_api(app, settings)
    register_languages(app)
    register_rate_limits(app, settings)
    register_services(app, settings)
    register_readiness_checks(app, settings)
    register_blueprints(app, settings)
    register_error_handlers(app)
    register_commands(app)
    return app


def configure_logging(settings: Settings) -> None:
    """Logs on stdout when serving; on stderr under the Flask CLI, whose stdout is the output."""
    import click

    from app.telemetry.logs import configure_logging as configure

    under_cli = click.get_current_context(silent=True) is not None
    configure(settings.log_level, "stderr" if under_cli else "stdout")


def register_tracing(app: Flask, settings: Settings) -> None:
    """One trace per request when the OTEL_* settings ask for it; first, so its span is open
    before any other hook runs."""
    from app.telemetry import tracing

    tracing.init_app(app, settings.tracing)


def configure_flask(app: Flask, settings: Settings) -> None:
    from app.api.openapi import config as openapi_config
    from app.storage.repository import engine_options

    app.config.update(
        TRUSTED_PROXY_COUNT=settings.trusted_proxy_count,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
        SIGNUP_CORS_ORIGINS=settings.cors_origins,
        SQLALCHEMY_DATABASE_URI=settings.records.database_url.reveal(),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(
            settings.records.database_url.reveal(), settings.records.pool_size
        ),
        SIGNUP_RECORD_RETENTION=settings.records.retention,
        SIGNUP_REPORT=settings.report,
        **openapi_config(),
    )


def register_storage(app: Flask) -> None:
    """The database, its migrations, and the repositories the services and the CLI use."""
    from app.storage import models  # noqa: F401 - the tables, for migrations
    from app.storage.db import db, migrate
    from app.storage.repository import IdempotencyKeys, SignupRecords, watch_connections

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    with app.app_context():
        engine = db.engine
    watch_connections(engine)
    app.extensions["signup_records"] = SignupRecords(engine)
    app.extensions["idempotency_keys"] = IdempotencyKeys(engine)


def register_telemetry(app: Flask) -> None:
    """Request ids and access lines, and the Prometheus counters."""
    from app.telemetry import metrics, request_log

    request_log.init_app(app)
    metrics.init_app(app)


def register_api(app: Flask, settings: Settings) -> None:
    """The HTTP plumbing around the views: OpenAPI, CORS, browser security, forms, idempotency."""
    from app.api import cors, forms, idempotency, security, sign_in
    from app.api.openapi import api

    api.init_app(app)
    cors.init_app(app, settings.cors_origins)
    security.init_app(app, settings)
    forms.init_app(app)
    idempotency.init_app(app)
    sign_in.init_app(app, settings.sign_in)


def register_languages(app: Flask) -> None:
    """Answers in the person's language: English, German, French or Spanish."""
    from app.api import i18n

    i18n.init_app(app)


def register_rate_limits(app: Flask, settings: Settings) -> None:
    """The per-IP limit, on the sign-up endpoints alone: probes, metrics, docs and the demo
    page are never limited (an orchestrator must always get its answer)."""
    from app.api import rate_limits, register

    rate_limits.init_app(app, settings.abuse, limited=register.blp)


def register_services(app: Flask, settings: Settings) -> None:
    from app.breached import BreachedPasswords
    from app.captcha import CaptchaVerifier
    from app.cognito import CognitoGateway
    from app.services.budgets import Budgets
    from app.services.email_rules import EmailRules
    from app.services.idempotency import IdempotencyService
    from app.services.keyed_hash import derive_key
    from app.services.records import RecordKeeper
    from app.services.screening import Screening
    from app.services.sign_in import SignIns
    from app.services.signup import SignupPolicy, SignupService
    from app.storage.sessions import open_values

    if settings.cognito is None:
        # CLI commands (migrations, reports) need no user pool, so nothing is said here: under
        # gunicorn there always is one (embedded if need be), and any other server logs each
        # sign-up it refuses with a 503 (errors.NotConfigured).
        return
    gateway = CognitoGateway.from_settings(settings.cognito, settings)
    app.extensions["cognito"] = gateway
    records = settings.records
    # Without a key of its own, hashes are keyed by the client secret: never stored, never sent.
    master_key = (records.hmac_key or settings.cognito.client_secret).reveal()
    # Also for `flask signups reconcile`, which matches Cognito's users to records by this hash.
    keeper = app.extensions["record_keeper"] = RecordKeeper(
        app.extensions["signup_records"],
        identity_key=derive_key(master_key, "identity"),
        ip_retention=records.ip_retention,
    )
    sign_ins = None
    if settings.sign_in.enabled:
        sign_ins = SignIns(
            open_values(settings.abuse.storage_uri, f"{settings.abuse.key_prefix}:sign-in"),
            key=derive_key(master_key, "sign-in-handle"),
            window=settings.sign_in.window,
        )
    abuse = settings.abuse
    screening = Screening(
        abuse.rules,
        email_rules=EmailRules(abuse.email_domains),
        captcha=abuse.captcha and CaptchaVerifier(abuse.captcha),
        breached_passwords=BreachedPasswords(
            abuse.breached_password, max_connections=settings.cognito_max_connections
        ),
    )
    app.extensions["signup"] = SignupService(
        gateway,
        SignupPolicy(
            allowed_custom_attributes=settings.allowed_custom_attributes,
            client_metadata_keys=settings.client_metadata_keys,
            hide_existing_users=abuse.hide_existing_users,
        ),
        budgets=Budgets.from_settings(abuse),
        screening=screening,
        records=keeper,
        sign_ins=sign_ins,
    )
    app.extensions["idempotency"] = IdempotencyService(
        app.extensions["idempotency_keys"],
        request_key=derive_key(master_key, "request"),
        ttl=records.idempotency_ttl,
        wait_seconds=records.idempotency_wait_seconds,
    )


def register_readiness_checks(app: Flask, settings: Settings) -> None:
    """What /readyz checks: Cognito, the rate-limit storage and the service's database."""
    from app.storage.db import db
    from app.telemetry import readiness

    gateway = app.extensions.get("cognito")
    if gateway is None:
        readiness.add_check(app, "cognito", readiness.not_configured)
    elif settings.readyz_check_cognito:
        timeout = min(settings.cognito_timeout_seconds, readiness.DEADLINE_SECONDS)
        check = readiness.Cached(
            lambda: gateway.check_reachable(timeout), readiness.UPSTREAM_CACHE_SECONDS
        )
        readiness.add_check(app, "cognito", check)
    limiter = app.extensions.get("rate_limiter")
    if limiter is not None:
        readiness.add_check(app, "rate_limit_storage", readiness.storage_check(limiter.storage))
    with app.app_context():
        readiness.add_check(app, "database", readiness.database_check(db.engine))


def register_blueprints(app: Flask, settings: Settings) -> None:
    from app.api import admin, health, metrics, pages, register
    from app.api.openapi import api

    api.register_blueprint(health.blp)
    api.register_blueprint(metrics.blp)
    api.register_blueprint(pages.blp)
    api.register_blueprint(register.blp)
    if settings.report.token is not None:
        # Not in the public OpenAPI document; without the token the route does not exist.
        app.register_blueprint(admin.blp)


def register_error_handlers(app: Flask) -> None:
    from app.api import errors

    errors.init_app(app)


def register_commands(app: Flask) -> None:
    from app.commands import signups

    app.cli.add_command(signups)
