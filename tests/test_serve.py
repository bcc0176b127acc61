"""`make run`'s server for real: gunicorn with the production config and the embedded Cognito."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """gunicorn with two workers, as `make run` starts it (migrations first), with no COGNITO_*."""
    port = free_port()
    folder = tmp_path_factory.mktemp("serve")
    log = folder / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "AWS_"))}
    env.update(PORT=str(port), WEB_CONCURRENCY="2", DATABASE_URL=f"sqlite:///{folder}/signups.db")
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf"],
            cwd=ROOT,
            env=env,
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
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def logged_code(log: Path, username: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        codes = re.findall(rf"Confirmation code for {re.escape(username)}: (\d+)", log.read_text())
        if codes:
            return codes[-1]
        time.sleep(0.1)
    raise AssertionError(f"no code logged for {username}")


def test_the_log_says_how_to_try_it(served):
    _, log = served
    assert "curl" in log.read_text()


def test_sign_up_confirm_and_resend_across_workers(served):
    base, log = served
    username = "grace@example.com"

    status, body = post(f"{base}/register", {"email": username, "password": "Correct-h0rse"})
    assert (status, body["user_confirmed"]) == (201, False)

    status, body = post(f"{base}/register/resend", {"username": username})
    assert status == 200
    assert body["code_delivery"]["medium"] == "EMAIL"

    # Every request may land on either worker: both must know the same user pool.
    status, _ = post(f"{base}/register/confirm", {"username": username, "code": "000000"})
    assert status == 422
    status, body = post(
        f"{base}/register/confirm", {"username": username, "code": logged_code(log, username)}
    )
    assert (status, body) == (200, {"confirmed": True})


def test_the_embedded_pool_enforces_its_password_policy(served):
    base, _ = served
    status, body = post(f"{base}/register", {"email": "weak@example.com", "password": "weakpass"})

    assert status == 422
    assert "password" in body["fields"]


def test_the_server_refuses_to_start_without_a_pool_when_embedding_is_off(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "AWS_"))}
    env.update(PORT=str(free_port()), COGNITO_EMBEDDED="never")

    finished = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert finished.returncode != 0
    assert "COGNITO_USER_POOL_ID" in finished.stdout + finished.stderr
