"""The signup service: a Flask backend-for-frontend that turns sign-up forms into Cognito users."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from flask import Flask

from app.config import Settings


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment; ``config`` overrides environment variables (tests)."""
    settings = Settings.from_env({**os.environ, **(config or {})})
    app = Flask(__name__)
    configure_logging(settings)
    configure_flask(app, settings)
    register_extensions(app)
    register_rate_limits(app, settings)
    register_services(app, settings)
    register_blueprints(app)
    register_error_handlers(app)
    return app


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # At DEBUG, botocore and urllib3 log whole request bodies: passwords and SECRET_HASH values.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))


def configure_flask(app: Flask, settings: Settings) -> None:
    app.config.update(
        TRUSTED_PROXY_COUNT=settings.trusted_proxy_count,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
        API_TITLE="Signup service",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )


def register_extensions(app: Flask) -> None:
    from app.extensions import api

    api.init_app(app)


def register_rate_limits(app: Flask, settings: Settings) -> None:
    from app.rate_limits import register_rate_limits as register

    register(app, settings.abuse)


def register_services(app: Flask, settings: Settings) -> None:
    from app.captcha import CaptchaVerifier
    from app.cognito import CognitoGateway
    from app.services.budgets import Budgets
    from app.services.signup import SignupPolicy, SignupService

    if settings.cognito is None:
        # CLI commands (migrations, reports) need no user pool; serving does, and gunicorn's
        # config refuses to start without one. Anything else answers sign-ups with a 503.
        logging.getLogger(__name__).warning("No COGNITO_* settings: sign-ups are refused")
        return
    app.extensions["signup"] = SignupService(
        CognitoGateway.from_settings(settings.cognito, settings),
        SignupPolicy(
            allowed_custom_attributes=settings.allowed_custom_attributes,
            client_metadata_keys=settings.client_metadata_keys,
            hide_existing_users=settings.abuse.hide_existing_users,
        ),
        budgets=Budgets.from_settings(settings.abuse),
        captcha=settings.abuse.captcha and CaptchaVerifier(settings.abuse.captcha),
    )


def register_blueprints(app: Flask) -> None:
    from app.api import health, register
    from app.extensions import api

    api.register_blueprint(health.blp)
    api.register_blueprint(register.blp)


def register_error_handlers(app: Flask) -> None:
    from app.errors import register_error_handlers as register

    register(app)
