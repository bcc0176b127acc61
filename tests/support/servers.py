"""Real servers for tests: a WSGI app on a thread (the app, test doubles), or gunicorn as `make run`
starts it (migrations, then ``gunicorn -c python:app.serving.gunicorn_conf``) as a child process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from wsgiref.types import WSGIApplication

from werkzeug.serving import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parents[2]
COMMAND = (sys.executable, "-m", "gunicorn", "--config", "python:app.serving.gunicorn_conf")
MIGRATE = (sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade")
PATCH_SWITCH = "SIGNUP_SERVING_PATCHES"
# Settings a server under test must not inherit from the test process.
_INHERITED_NOT = (
    "COGNITO_", "AWS_", "RATELIMIT_", "SIGNUP_", "PROMETHEUS_", "WEB_CONCURRENCY", "DATABASE_URL",
    "OTEL_",
)  # fmt: skip


def free_port() -> int:
    """A port nothing listens on (until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request would drown the test output; the app logs its own."""


class LocalServer:
    """``app`` served over real HTTP on 127.0.0.1 by a background thread."""

    def __init__(self, app: WSGIApplication, name: str, port: int = 0) -> None:
        self._server = make_server(
            "127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=name,
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_port

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serving(app: WSGIApplication, port: int = 0) -> Iterator[str]:
    """Serve ``app`` on ``port`` (any free one by default); yields its base URL."""
    server = LocalServer(app, "app", port)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def clean_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without the service's own settings, plus ``overrides``.

    The serving-patch switch is the exception: the suite runs once with it off (`make test`).
    """
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_NOT) or k == PATCH_SWITCH
    }
    env.update(overrides)
    return env


class Gunicorn:
    """gunicorn with the production config, after the migrations, as a child process.

    Without a DATABASE_URL in ``env``, the database is an SQLite file in ``log_dir``; without a
    SIGNUP_BREACHED_PASSWORD_URL, passwords are checked against a local range server.
    """

    def __init__(self, env: Mapping[str, str], log_dir: Path, *args: str) -> None:
        from tests.support import pwned_range

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.stdout = log_dir / "stdout.log"
        self.stderr = log_dir / "stderr.log"
        self._env = {
            "DATABASE_URL": f"sqlite:///{log_dir / 'signups.db'}",
            "SIGNUP_BREACHED_PASSWORD_URL": pwned_range.shared().url,
            **env,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
        }
        self._args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> Gunicorn:
        subprocess.run(MIGRATE, cwd=ROOT, env=self._env, check=True, capture_output=True)  # noqa: S603
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, our own arguments
                [*COMMAND, *self._args], cwd=ROOT, env=self._env, stdout=out, stderr=err
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"gunicorn did not start:\n{self.output()}") from None
                time.sleep(0.2)

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


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


def post(url: str, body: Mapping[str, object]) -> tuple[int, dict]:
    """POST ``body`` as JSON; the status and the decoded answer, errors included."""
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
