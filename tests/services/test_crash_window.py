"""The crash window, for real: a gunicorn worker killed while Cognito creates the user.

The attempt's record was opened before the call and nothing settles it: the client gets no
answer, the user exists, the record says ``pending`` and no line was logged. The operator's
repair is `flask --app wsgi signups reconcile`, run here as an operator would, in its own process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.error
from pathlib import Path

import pytest

from tests.support import databases
from tests.support.faults import call, wait_until
from tests.support.servers import ROOT, Gunicorn, clean_environment

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "made-up"}


def worker_pids(master: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == master:
            pids.append(int(stat.parent.name))
    return pids


@pytest.fixture
def env(cognito, tmp_path):
    return clean_environment(
        **cognito.settings(),
        DATABASE_URL=f"sqlite:///{tmp_path / 'signups.db'}",
        COGNITO_TIMEOUT_SECONDS="5",
    )


def reconcile(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "signups", "reconcile"]
    return subprocess.run(  # noqa: S603 - this interpreter, our own arguments
        [*command, "--older-than", "0"],
        cwd=ROOT,
        env={**env, **FAKE_CREDENTIALS},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_worker_killed_mid_signup_leaves_a_record_that_reconcile_repairs(env, cognito, tmp_path):
    cognito.delay_seconds = 2  # the double creates the user, then takes its time to answer
    outcomes: list[object] = []
    with Gunicorn(env, tmp_path) as server:
        body = {"email": "ada@example.com", "password": "Correct-h0rse"}
        client = threading.Thread(target=lambda: outcomes.append(_try(server.base, body)))
        client.start()
        wait_until(lambda: cognito.calls("SignUp"))
        [worker] = worker_pids(server.process.pid)
        os.kill(worker, signal.SIGKILL)
        client.join(timeout=10)
        cognito.delay_seconds = 0
        [pending] = databases.rows(env["DATABASE_URL"], "signup_records")

        repaired = reconcile(env)
        after = call(f"{server.base}/register", {**body, "email": "bob@example.com"})

    assert outcomes == ["no answer"]
    assert pending["outcome"] == "pending"
    assert "Signup record" not in server.output()  # no line to repair from: only Cognito knows
    assert repaired.returncode == 0, repaired.stderr
    [record, _] = databases.rows(env["DATABASE_URL"], "signup_records")
    assert (record["outcome"], record["user_sub"]) == (
        "created",
        cognito.sub_for("ada@example.com"),
    )
    assert after.status == 201  # gunicorn replaced the worker


def _try(base: str, body: dict) -> object:
    try:
        return call(f"{base}/register", body).status
    except (urllib.error.URLError, ConnectionError):
        return "no answer"
