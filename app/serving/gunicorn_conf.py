"""gunicorn settings for `make run` and the Docker image.

``gunicorn -c python:app.serving.gunicorn_conf``.

With no COGNITO_USER_POOL_ID the master process starts one embedded Cognito-compatible endpoint
before forking, so every worker talks to the same user pool, and gives the rate limits the operator
left unset generous values (EMBEDDED_LIMITS): the README's examples alone would trip the defaults.

Rate limits counted in memory:// live in one process: several workers would each have their own
budget, multiplying every limit. So with memory:// there is one worker unless WEB_CONCURRENCY asks
for more, and then the server refuses to start; shared storage (redis://) allows any number.

Workers are gevent's: a sign-up spends most of its time waiting on Cognito, Redis and PostgreSQL,
and each request in a greenlet of its own lets a worker wait on hundreds at once without threads
fighting over the GIL. `make bench` measured it (docs/performance.md); GUNICORN_WORKER_CLASS=
gthread with GUNICORN_THREADS is the alternative for comparison.
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path

WORKER_CLASS = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
if WORKER_CLASS == "gevent":
    # Each gevent worker monkey-patches the standard library when it starts, after the fork. The
    # embedded Cognito imports botocore and urllib3 here in the master, before that, and they keep
    # the unpatched ssl.SSLContext: a worker then fails creating its boto3 client (RecursionError
    # in ssl). Patching ssl first, here, gives master and workers one SSLContext. Only ssl:
    # patched threads in the master would be copied into every worker by fork.
    from gevent import monkey

    monkey.patch_ssl()

# After the patch: app.config imports flask, which imports ssl's users.
from app.config import MAX_COGNITO_CONNECTIONS, storage_is_shared  # noqa: E402 - imports no prometheus_client either
from app.serving import gunicorn_errors, patches  # noqa: E402

# Requests gunicorn itself refuses (headers too large, malformed) get the one JSON error shape.
gunicorn_errors.install()
# The patches SIGNUP_SERVING_PATCHES asks for (app/serving/patches.py): a wrong name stops here.
PATCHES = patches.chosen(os.environ)

# Every worker writes its metrics here and /metrics sums them. It must be set before any worker
# imports prometheus_client, hence at config load, in the master. Kubernetes mounts an emptyDir.
_created_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
METRICS_DIR = Path(
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="signup-metrics-"))
)

_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "").strip() or "memory://"

# The limits a developer's `make run` gets while the embedded Cognito serves, each only where the
# operator set none: trying the README's examples a few times must not meet a 429. A real pool
# (any COGNITO_* setting) never gets them.
EMBEDDED_LIMITS = {
    "SIGNUP_RATE_LIMIT_PER_IP": "1000/minute",
    "SIGNUP_RATE_LIMIT_PER_IDENTITY": "100/hour",
    "SIGNUP_RATE_LIMIT_CONFIRM_PER_USERNAME": "100/hour",
}

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2" if storage_is_shared(_STORAGE_URI) else "1"))
# gunicorn's own gevent worker, but closing connections gracefully (see app/serving/worker.py).
worker_class = "app.serving.worker.GeventWorker" if WORKER_CLASS == "gevent" else WORKER_CLASS
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))  # gevent
threads = int(os.environ.get("GUNICORN_THREADS", "32"))  # gthread
timeout = 30
GC_YOUNGEST_THRESHOLD = 7000  # Python's default: 700
# botocore keeps as many connections to Cognito as a worker can have calls in flight: with fewer,
# every call past the pool's size opens a connection and closes it after one use (urllib3's
# "Connection pool is full, discarding connection"), which `make bench` saw at 200 connections.
_in_flight = worker_connections if WORKER_CLASS == "gevent" else threads
os.environ.setdefault("COGNITO_MAX_CONNECTIONS", str(min(_in_flight, MAX_COGNITO_CONNECTIONS)))
graceful_timeout = 30
keepalive = 5
wsgi_app = "wsgi:app"
# Workers' heartbeat files in memory: works with a read-only root filesystem, never stalls on disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# gunicorn's own lines as JSON on stdout, like the app's; requests are logged by the app.
accesslog = None
logger_class = (
    "app.serving.logger.Logger" if "quiet_access_log" in PATCHES else "gunicorn.glogging.Logger"
)
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.telemetry.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        # The embedded Cognito serves from the master, where no app configures logging: its
        # lines (the confirmation codes) would reach stderr as plain text.
        "app.serving.embedded_cognito": {
            "level": "INFO",
            "handlers": ["stdout"],
            "propagate": False,
        },
    },
}


def on_starting(server):
    """Start from empty metrics; fail fast on per-worker rate limits or without a user pool."""
    from app.config import COGNITO_REQUIRED, ConfigError, Settings

    # Files left by an earlier run would be summed into this one's counters.
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink()

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
    from app.serving.embedded_cognito import EmbeddedCognito

    embedded = EmbeddedCognito().start()
    os.environ.update(embedded.settings())
    generous = _use_embedded_limits()
    host, port = bind.rsplit(":", 1)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - only for the hint
    settings = Settings.from_env(os.environ)
    password = "" if settings.sign_in.passwordless else ', "password": "Tulip-orbit-4-lantern"'
    server.log.warning(
        "No COGNITO_USER_POOL_ID: serving an embedded Cognito (moto) at %s with user pool %s. "
        "Its users live in memory and vanish when the server restarts, while the service's own "
        "records stay in its database (DATABASE_URL; by default SQLite in instance/). "
        "Confirmation codes are logged here; confirming with the answer's sign_in_handle signs "
        "in, with tokens that verify against %s/%s/.well-known/jwks.json. %s %s Try:\n"
        "  curl -s -X POST http://%s:%s/register -H 'Content-Type: application/json' "
        '-d \'{"email": "ada@example.com"%s}\'',
        embedded.endpoint_url,
        embedded.user_pool_id,
        embedded.endpoint_url,
        embedded.user_pool_id,
        _breached_password_state(settings),
        _limits_state(generous),
        host,
        port,
        password,
    )


def _use_embedded_limits():
    """Set EMBEDDED_LIMITS where the operator set no limit; the names set, for the log."""
    generous = [name for name in EMBEDDED_LIMITS if not os.environ.get(name, "").strip()]
    os.environ.update({name: EMBEDDED_LIMITS[name] for name in generous})
    return generous


def _limits_state(generous):
    """One sentence on the rate limits while the embedded Cognito serves."""
    if not generous:
        return "Rate limits are as set."
    limits = ", ".join(f"{name}={EMBEDDED_LIMITS[name]}" for name in generous)
    return (
        f"Generous rate limits while the embedded Cognito serves ({limits}); production "
        "settings never get them."
    )


def _breached_password_state(settings):
    """One sentence on what the breached-password check does here, offline included."""
    mode = settings.abuse.rules.of("breached_password")
    if mode == "off":
        return "Breached passwords are not checked (SIGNUP_RULE_BREACHED_PASSWORD=off)."
    check = settings.abuse.breached_password
    outage = (
        "without it, sign-ups go on and are counted as "
        'signup_breached_password_checks_total{outcome="unavailable"}'
        if check.fail_open
        else "without it, sign-ups are refused with a 503"
    )
    return f"Passwords are checked ({mode}) against {check.range_url} when it answers; {outage}."


def post_worker_init(worker):
    """Keep the garbage collector off the objects every worker loads once and keeps.

    Frozen, the app, botocore's models and the imported modules (some 180,000 objects) are no
    longer traversed by each full collection, which took about 70 ms and held every request of the
    worker meanwhile; and the youngest generation is collected every 7,000 allocations rather than
    700. Under load (`make bench`, 150 ms stand-in) the collector's time per worker fell from about
    4% of its CPU to 0.4%.
    """
    if "gc_freeze" not in PATCHES:
        return
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])


def worker_exit(server, worker):
    """In the exiting worker (SIGTERM included): the spans still buffered are exported."""
    from app.telemetry import tracing

    tracing.shutdown()


def child_exit(server, worker):
    """A worker's counters stay in the sum after it exits; its live gauges must not."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _created_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
