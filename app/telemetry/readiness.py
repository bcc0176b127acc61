"""Readiness: named checks of what a sign-up needs, run by ``GET /readyz``.

``app.extensions["readiness"]`` is a list of ``(name, check)`` pairs. A check is a callable that
returns when its dependency is usable and raises when it is not; each component registers its own
with :func:`add_check` (the database and the rate-limit storage plug in the same way as Cognito).
Checks run concurrently under one deadline, so a hung dependency makes the probe answer "not
ready" in time instead of hanging it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from flask import Flask
from limits.storage import Storage
from sqlalchemy import Engine, text

logger = logging.getLogger(__name__)

Check = Callable[[], None]

# Orchestrators give a probe a few seconds (deploy/k8s: 3 s); answer well within that.
DEADLINE_SECONDS = 2.0
# How long an upstream check's verdict is reused (see Cached).
UPSTREAM_CACHE_SECONDS = 5.0


def add_check(app: Flask, name: str, check: Check) -> None:
    """Make ``check`` part of readiness under ``name`` (shown in /readyz, so keep it generic)."""
    app.extensions.setdefault("readiness", []).append((name, check))


def checks(app: Flask) -> list[tuple[str, Check]]:
    return list(app.extensions.get("readiness", []))


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str]  # name -> "ok", "failed" or "timeout"


def run_checks(named: list[tuple[str, Check]], deadline: float = DEADLINE_SECONDS) -> Readiness:
    """Run every check at once; one that raises or outlives the deadline makes us not ready."""
    if not named:
        return Readiness(True, {})
    results: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=len(named), thread_name_prefix="readyz")
    try:
        futures = {pool.submit(check): name for name, check in named}
        done, _ = wait(futures, timeout=deadline)
        for future, name in futures.items():
            if future not in done:
                logger.warning("Readiness check %s timed out", name)
                results[name] = "timeout"
            elif future.exception() is not None:
                # The type only: a driver's message can carry a connection string.
                error = type(future.exception()).__name__
                logger.warning("Readiness check %s failed: %s", name, error)
                results[name] = "failed"
            else:
                results[name] = "ok"
    finally:
        # A hung check keeps its thread until its own timeout; the probe does not wait for it.
        pool.shutdown(wait=False, cancel_futures=True)
    return Readiness(all(state == "ok" for state in results.values()), results)


class Cached:
    """A check re-run at most once per ``seconds``; its last verdict is replayed in between.

    /readyz is public and not rate-limited: this keeps probes (and anyone else) from turning
    into a stream of upstream requests.
    """

    def __init__(self, check: Check, seconds: float) -> None:
        self._check = check
        self._seconds = seconds
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._error: Exception | None = None

    def __call__(self) -> None:
        with self._lock:
            if time.monotonic() - self._checked_at >= self._seconds:
                try:
                    self._check()
                    self._error = None
                except Exception as error:
                    self._error = error
                self._checked_at = time.monotonic()
            error = self._error
        if error is not None:
            raise error


class StorageUnavailable(RuntimeError):
    """The rate-limit storage did not answer its health check."""


def storage_check(storage: Storage) -> Check:
    """Readiness of a ``limits`` storage (flask-limiter's ``limiter.storage``): it pings."""

    def check() -> None:
        if not storage.check():
            raise StorageUnavailable()

    return check


def database_check(engine: Engine) -> Check:
    """Readiness of an SQLAlchemy engine (Flask-SQLAlchemy's ``db.engine``): one SELECT 1."""

    def check() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return check


class NotConfigured(RuntimeError):
    """No user pool is configured: sign-ups cannot work, so the instance is not ready."""


def not_configured() -> None:
    raise NotConfigured()
