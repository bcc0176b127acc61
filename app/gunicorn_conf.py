"""gunicorn settings for `make run` and the Docker image: ``gunicorn -c python:app.gunicorn_conf``.

With no COGNITO_USER_POOL_ID the master process starts one embedded Cognito-compatible endpoint
before forking, so every worker talks to the same user pool.

Rate limits counted in memory:// live in one process: several workers would each have their own
budget, multiplying every limit. So with memory:// there is one worker unless WEB_CONCURRENCY asks
for more, and then the server refuses to start; shared storage (redis://) allows any number.
"""

import os

from app.config import storage_is_shared

_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "").strip() or "memory://"

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2" if storage_is_shared(_STORAGE_URI) else "1"))
# Each request mostly waits on Cognito: threads keep a worker busy while one waits.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
timeout = 30
graceful_timeout = 30
keepalive = 5
wsgi_app = "wsgi:app"


def on_starting(server):
    """Fail fast on per-worker rate limits or without a user pool; embed one when allowed."""
    from app.config import COGNITO_REQUIRED, ConfigError, Settings

    if server.cfg.workers > 1 and not storage_is_shared(_STORAGE_URI):
        raise ConfigError(
            f"{server.cfg.workers} workers with RATELIMIT_STORAGE_URI=memory:// would give each "
            "worker its own rate-limit budget: set RATELIMIT_STORAGE_URI=redis://... to share "
            "them, or run one worker (WEB_CONCURRENCY=1)"
        )

    if any(os.environ.get(name) for name in COGNITO_REQUIRED):
        Settings.from_env(os.environ)  # a half-configured pool stops the server here
        return
    if os.environ.get("COGNITO_EMBEDDED", "auto") == "never":
        raise ConfigError(
            "COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and a client secret are required"
        )
    from app.local_cognito import EmbeddedCognito

    embedded = EmbeddedCognito().start()
    os.environ.update(embedded.settings())
    host, port = bind.rsplit(":", 1)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - only for the hint
    server.log.warning(
        "No COGNITO_USER_POOL_ID: serving an embedded Cognito (moto) at %s with user pool %s. "
        "Confirmation codes are logged here. Try:\n"
        "  curl -s -X POST http://%s:%s/register -H 'Content-Type: application/json' "
        '-d \'{"email": "ada@example.com", "password": "Passw0rd!x"}\'',
        embedded.endpoint_url,
        embedded.user_pool_id,
        host,
        port,
    )
