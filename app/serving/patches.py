"""Every patch of a library (and of our own storage layer) for speed, behind one switch.

``SIGNUP_SERVING_PATCHES`` is ``all`` (the default), ``none``, or a comma-separated list of the
names below. The server runtime installs them in each worker once gevent has patched the standard
library, before the app is loaded (``GeventWorker.load_wsgi`` in app/serving/worker.py); domain
code never does. With GUNICORN_WORKER_CLASS=gthread (for comparison only) none is installed; the
two gunicorn settings still apply. The service behaves the same with any choice: each patch only
takes work away. docs/performance.md has each one's figures, with and without, measured alone
against the same code.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

SWITCH = "SIGNUP_SERVING_PATCHES"

# name -> the module whose ``install()`` applies it
PATCHES = {
    "one_send": "app.serving.one_send",  # gunicorn: a response's head and body in one send
    "lean_botocore": "app.serving.lean_botocore",  # botocore: one send, a kernel liveness check
    "psycopg_wait": "app.serving.psycopg_wait",  # psycopg: waits on one gevent watcher
    "flask_ensure_sync": "app.serving.flask_sync",  # Flask: ensure_sync asked once per function
    "limiter_window": "app.serving.limiter_window",  # flask-limiter: hit and read in one trip
    "batched_writes": "app.serving.batched_writes",  # the records' writes, batched
}
# Settings of gunicorn's, chosen in gunicorn_conf.py: its logger without access lines, and the
# garbage collector kept off what every worker loads once.
GUNICORN_PATCHES = frozenset({"quiet_access_log", "gc_freeze"})
NAMES = frozenset(PATCHES) | GUNICORN_PATCHES


class PatchSwitchError(ValueError):
    """SIGNUP_SERVING_PATCHES names a patch that does not exist."""


def chosen(env: Mapping[str, str]) -> frozenset[str]:
    """The patches ``SIGNUP_SERVING_PATCHES`` asks for."""
    raw = env.get(SWITCH, "").strip().lower() or "all"
    if raw == "all":
        return NAMES
    if raw == "none":
        return frozenset()
    names = frozenset(name.strip() for name in raw.split(",") if name.strip())
    unknown = sorted(names - NAMES)
    if unknown:
        raise PatchSwitchError(
            f"{SWITCH} must be all, none or names from {', '.join(sorted(NAMES))}; "
            f"unknown: {', '.join(unknown)}"
        )
    return names


def install(names: frozenset[str]) -> None:
    """Install the named patches in this process (a worker, before it loads the app)."""
    for name in sorted(names & PATCHES.keys()):
        importlib.import_module(PATCHES[name]).install()
