"""gunicorn started the way `make run` starts it: migrations, then `-c python:app.gunicorn_conf`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.local_server import free_port

ROOT = Path(__file__).resolve().parent.parent
COMMAND = (sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf")
MIGRATE = (sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade")


def clean_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without any Cognito, AWS or rate-limit setting, plus these."""
    prefixes = ("COGNITO_", "AWS_", "RATELIMIT_", "SIGNUP_", "WEB_CONCURRENCY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(overrides)
    return env


def post(url: str, body: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@contextmanager
def gunicorn(env: Mapping[str, str], log: Path, *args: str) -> Iterator[str]:
    """The server's base URL once /healthz answers; stopped (SIGTERM) on exit.

    Without a DATABASE_URL in ``env``, the database is an SQLite file next to the log.
    """
    env = {"DATABASE_URL": f"sqlite:///{log.parent / 'signups.db'}", **env}
    subprocess.run(MIGRATE, cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)  # noqa: S603
    port = free_port()
    with log.open("w") as sink:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our own arguments
            [*COMMAND, *args],
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def refused_start(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run gunicorn expecting it to refuse to start; its exit status and output."""
    return subprocess.run(  # noqa: S603 - this interpreter, our own arguments
        [*COMMAND, *args],
        cwd=ROOT,
        env={**env, "PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
