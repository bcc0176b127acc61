"""Dependencies that fail for real: a TCP proxy to cut or stall, and a Redis server of our own.

Nothing here touches the machine's own servers: the proxy sits between the service and one of
them (PostgreSQL on 5432, the Cognito double), and the Redis server is a private process on a
free port, started and killed by the test.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

import pytest
import redis

from tests.conftest import in_ci
from tests.support.servers import free_port


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream``, until told to refuse or to stall.

    ``cut()`` closes every connection and stops listening: new connections are refused, as when
    the server is down. ``stall()`` keeps accepting but forwards nothing, as a hung server or a
    partition that drops packets. ``restore()`` forwards again, on the same port.
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self._upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stalled = False
        self.restore()

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def restore(self) -> None:
        with self._lock:
            self._stalled = False
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            open_sockets, self._sockets = self._sockets, set()
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def stall(self) -> None:
        """Drop the open connections; accept new ones but never answer them."""
        self.cut()
        self.restore()
        with self._lock:
            self._stalled = True

    def close(self) -> None:
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut: the listener was closed
            with self._lock:
                self._sockets.add(client)
                stalled = self._stalled
            if stalled:
                continue  # held open, never read: the client waits for its own timeout
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets.add(server)
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    if self._stalled:
                        return
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class MissingDependency(RuntimeError):
    """A program the fault tests need is not installed."""


def require(error: MissingDependency) -> NoReturn:
    """In a test: fail under CI=true, skip locally."""
    if in_ci():
        pytest.fail(str(error))
    pytest.skip(str(error))


class RedisServer:
    """A private redis-server on a free port, without persistence: killed, it forgets everything."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise MissingDependency("redis-server is needed to take Redis away and bring it back")
        self._binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        args = [self._binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(  # noqa: S603 - the binary found above, our arguments
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """Gone at once, as a crashed server or a lost host: no goodbye to its clients."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as took:`` ... ``took[0]`` is the seconds the block ran."""
    took: list[float] = []
    started = time.monotonic()
    try:
        yield took
    finally:
        took.append(time.monotonic() - started)


def wait_until(condition, timeout: float = 10, interval: float = 0.05) -> None:
    """Poll ``condition`` until it is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {condition}")
        time.sleep(interval)


# What "quickly" means in these tests: generous, so a busy CI machine never fails a correct service.
SLACK_SECONDS = 1.5
_numbers = itertools.count()


def new_email() -> str:
    return f"fault{next(_numbers)}@example.com"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict
    seconds: float


def call(url: str, body: dict | None = None, headers: dict[str, str] | None = None) -> Answer:
    """POST ``body`` as JSON (or GET without one); the answer, errors included, and its time."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data, {"Content-Type": "application/json", **(headers or {})}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, error.headers, error.read()
    seconds = time.monotonic() - started
    return Answer(
        status, {k.lower(): v for k, v in answer_headers.items()}, json.loads(raw), seconds
    )


def sign_up(base: str, email: str | None = None) -> Answer:
    """POST /register with a valid body, for a new address unless ``email`` is given."""
    return call(f"{base}/register", {"email": email or new_email(), "password": "Correct-h0rse"})
