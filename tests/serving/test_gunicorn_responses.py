"""gunicorn's responses leave in one send: same bytes as gunicorn's own, head and body together."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from app.serving.one_send import OneSendResponse

App = Callable[[dict, Callable], Iterable[bytes]]
JSON = b'{"status":"pending_confirmation"}'


class _Recording:
    """A socket that counts the writes and passes them on."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.writes = 0

    def sendall(self, data: bytes) -> None:
        self.writes += 1
        self._sock.sendall(data)

    def sendfile(self, file, offset=0, count=None):
        self.writes += 1
        return self._sock.sendfile(file, offset, count)

    def fileno(self) -> int:
        return self._sock.fileno()


def serve(app: App, request: bytes, response_class: type[wsgi.Response]) -> tuple[int, bytes]:
    """One request through gunicorn's parser and response, as its workers run them."""
    cfg = Config()
    server, client = socket.socketpair()
    with server, client:
        client.sendall(request)
        req = next(iter(RequestParser(cfg, server, ("127.0.0.1", 40000))))
        sock = _Recording(server)
        resp, environ = wsgi.create(
            req, sock, ("127.0.0.1", 40000), ("127.0.0.1", 8000), cfg, response_class
        )
        body = app(environ, resp.start_response)
        if isinstance(body, environ["wsgi.file_wrapper"]):
            resp.write_file(body)
        else:
            for chunk in body:
                resp.write(chunk)
        resp.close()
        if hasattr(body, "close"):
            body.close()
        server.shutdown(socket.SHUT_WR)
        received = b"".join(iter(lambda: client.recv(65536), b""))
    # Date is the clock's: the same second or not, it is not what is compared.
    return sock.writes, re.sub(rb"Date: [^\r]*\r\n", b"", received)


def json_answer(environ, start_response):
    start_response("201 CREATED", [("Content-Type", "application/json"), ("Content-Length", "33")])
    return [JSON]


def no_content(environ, start_response):
    start_response("204 NO CONTENT", [])
    return []


def streamed(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])  # no length: chunked
    return iter([b"first ", b"second"])


def a_file(path: Path) -> App:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(path.stat().st_size))])
        return environ["wsgi.file_wrapper"](path.open("rb"))

    return app


POST = b"POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_an_answer_with_a_length_leaves_in_one_send_where_gunicorn_used_two():
    assert serve(json_answer, POST, wsgi.Response)[0] == 2
    writes, received = serve(json_answer, POST, OneSendResponse)
    assert writes == 1
    assert received.startswith(b"HTTP/1.1 201 CREATED\r\n")
    assert received.endswith(b"\r\n\r\n" + JSON)


@pytest.mark.parametrize(
    ("app", "request_bytes"),
    [
        (json_answer, POST),
        (json_answer, HEAD),  # the head alone: no body bytes to carry it
        (no_content, GET),
        (streamed, GET),
    ],
    ids=["json", "head-request", "no-content", "chunked"],
)
def test_the_bytes_on_the_wire_are_gunicorns_own(app, request_bytes):
    ours = serve(app, request_bytes, OneSendResponse)[1]
    assert ours == serve(app, request_bytes, wsgi.Response)[1]


def test_a_file_sent_with_sendfile_follows_its_head(tmp_path):
    path = tmp_path / "swagger.js"
    path.write_bytes(b"x" * 100_000)
    ours = serve(a_file(path), GET, OneSendResponse)[1]
    assert ours == serve(a_file(path), GET, wsgi.Response)[1]
    assert ours.endswith(b"\r\n\r\n" + b"x" * 100_000)


# A worker as gunicorn makes one from the production config, up to loading the app (left out).
WORKER_LOADS = """
from gunicorn.http import wsgi
from gunicorn.workers.ggevent import GeventWorker as Base
import app.serving.gunicorn_conf as conf
from app.serving.worker import GeventWorker
assert conf.worker_class == "app.serving.worker.GeventWorker"
Base.load_wsgi = lambda self: None
GeventWorker.__new__(GeventWorker).load_wsgi()
print(wsgi.Response.__name__)
"""


@pytest.mark.parametrize(
    ("switch", "response_class"),
    [("all", OneSendResponse.__name__), ("none", "Response"), ("one_send", "OneSendResponse")],
)
def test_every_worker_installs_it_as_the_switch_says(tmp_path, switch, response_class):
    # A process of its own, as gunicorn's: the config patches ssl.
    loaded = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", WORKER_LOADS],
        cwd=Path(__file__).resolve().parents[2],
        env={
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),  # else the config makes one
            "SIGNUP_SERVING_PATCHES": switch,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == response_class
