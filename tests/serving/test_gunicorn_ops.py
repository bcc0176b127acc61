"""The production server for operators: gunicorn's workers, metrics, logs and graceful shutdown.

gunicorn runs as a real child process with app/serving/gunicorn_conf.py, talking to the strict
Cognito double over HTTP.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GENEROUS_LIMITS
from tests.support.cognito_double import CognitoDouble
from tests.support.servers import Gunicorn, clean_environment


def post(url: str, body: dict[str, str], timeout: float = 15) -> int:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def signups_counted(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "signup_requests_total"
        and sample.labels == {"step": "register", "outcome": "success"}
    )


def server_env(cognito: CognitoDouble, redis_url: str, **overrides: str) -> dict[str, str]:
    return clean_environment(
        **{
            **cognito.settings(),
            "WEB_CONCURRENCY": "2",
            # Two workers share rate-limit counters only through Redis.
            "RATELIMIT_STORAGE_URI": redis_url,
            "RATELIMIT_KEY_PREFIX": f"test-ops-{uuid.uuid4().hex[:12]}",
            **GENEROUS_LIMITS,
            **overrides,
        }
    )


@pytest.fixture(scope="module")
def gunicorn(cognito_server: CognitoDouble, redis_url: str, tmp_path_factory) -> Iterator[Gunicorn]:
    with Gunicorn(
        server_env(cognito_server, redis_url), tmp_path_factory.mktemp("gunicorn")
    ) as server:
        yield server


def access_lines(server: Gunicorn) -> list[dict]:
    lines = [json.loads(line) for line in server.stdout.read_text().splitlines()]
    return [line for line in lines if line.get("logger") == "signup.access"]


def test_metrics_count_every_workers_requests(gunicorn, cognito):
    """Whichever worker answers the scrape, it reports the sum over all workers."""
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for batch in range(10):
            emails = [f"user{batch}-{n}@example.com" for n in range(8)]
            answers = pool.map(
                lambda email: post(
                    f"{gunicorn.base}/register", {"email": email, "password": "Correct-h0rse"}
                ),
                emails,
            )
            assert list(answers) == [201] * 8
            sent += 8
            pids = {line["pid"] for line in access_lines(gunicorn) if line["path"] == "/register"}
            if len(pids) > 1:
                break
    assert len(pids) == 2, "every request landed on one worker: nothing to sum"

    scrapes = [signups_counted(gunicorn.base) for _ in range(6)]

    assert scrapes == [sent] * 6


def test_everything_on_stdout_is_one_json_object_per_line(gunicorn):
    post(f"{gunicorn.base}/register", {"email": "nope"})

    lines = gunicorn.stdout.read_text().splitlines()
    documents = [json.loads(line) for line in lines]

    assert {"gunicorn.error", "signup.access"} <= {document["logger"] for document in documents}
    assert gunicorn.stderr.read_text() == ""


def test_the_request_id_is_echoed_through_gunicorn(gunicorn):
    request = urllib.request.Request(f"{gunicorn.base}/healthz", headers={"X-Request-ID": "r-77"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["X-Request-ID"] == "r-77"


def test_sigterm_lets_an_in_flight_signup_finish(cognito, redis_url, tmp_path):
    cognito.delay_seconds = 2
    answers: list[int] = []
    with Gunicorn(server_env(cognito, redis_url), tmp_path) as server:
        client = threading.Thread(
            target=lambda: answers.append(
                post(
                    f"{server.base}/register", {"email": "ada@example.com", "password": "Pw-123abc"}
                )
            )
        )
        client.start()
        deadline = time.monotonic() + 10
        while not cognito.calls("SignUp"):  # the sign-up is now waiting on Cognito
            assert time.monotonic() < deadline, "the sign-up never reached Cognito"
            time.sleep(0.02)

        server.signal(signal.SIGTERM)
        client.join(timeout=20)
        exit_code = server.wait(timeout=30)

    assert answers == [201]
    assert exit_code == 0


def test_metrics_start_from_zero_after_a_restart(cognito, redis_url, tmp_path):
    metrics_dir = tmp_path / "metrics"
    env = server_env(cognito, redis_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    with Gunicorn(env, tmp_path) as first:
        body = {"email": "a@example.com", "password": "Pw-123abc"}
        assert post(f"{first.base}/register", body) == 201
        assert signups_counted(first.base) == 1
    assert list(metrics_dir.glob("*.db"))  # the first run's samples are still on disk

    with Gunicorn(env, tmp_path) as second:
        assert signups_counted(second.base) == 0
    assert metrics_dir.is_dir()  # an operator's directory is emptied, never removed


@pytest.mark.parametrize(
    ("worker", "at_once"),
    [({}, 60), ({"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": "8"}, 8)],
    ids=["gevent-default", "gthread-8-threads"],
)
def test_one_worker_keeps_many_sign_ups_waiting_on_a_slow_cognito(
    cognito, tmp_path, worker, at_once
):
    # Sign-ups mostly wait on Cognito: the default worker waits on all of them together, where
    # a thread per request waits on as many as it has threads.
    cognito.delay_seconds = 1
    env = clean_environment(**cognito.settings(), **GENEROUS_LIMITS, **worker)  # one worker
    with Gunicorn(env, tmp_path) as server, ThreadPoolExecutor(60) as clients:
        answers = list(
            clients.map(
                lambda n: post(
                    f"{server.base}/register",
                    {"email": f"u{n}@example.com", "password": "Pw-123abc"},
                    timeout=30,
                ),
                range(60),
            )
        )

    assert answers == [201] * 60
    assert cognito.most_in_flight == at_once
