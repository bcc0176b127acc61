"""botocore's connections to Cognito: each request in one send (the same bytes as botocore's),
and a pooled connection the server closed is told from one that is still open, so a sign-up
after Cognito closed an idle connection gets a new one rather than a 502.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore import awsrequest

from app.serving.lean_botocore import _lean, install
from tests.conftest import signup_body

SIGN_UP = json.dumps({"ClientId": "abc", "Username": "ada@example.com"}).encode()
HEADERS = {
    "X-Amz-Target": b"AWSCognitoIdentityProviderService.SignUp",
    "Content-Type": b"application/x-amz-json-1.1",
}


class _Recording:
    """A connected socket as http.client uses one: keeps what is sent, one entry per send."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sends.append(bytes(data))

    def settimeout(self, timeout: float | None) -> None:
        pass


def sends(connection_class: type, body: bytes | None, headers: dict | None = None) -> list[bytes]:
    connection = connection_class("cognito-idp.us-east-1.amazonaws.com", 443)
    connection.sock = _Recording()
    connection.request("POST", "/", body=body, headers=headers or HEADERS)
    return connection.sock.sends


def test_a_sign_up_leaves_in_one_send_where_urllib3_used_two():
    stock = sends(awsrequest.AWSHTTPConnection, SIGN_UP)
    whole = sends(_lean(awsrequest.AWSHTTPConnection), SIGN_UP)
    assert len(stock) == 2
    assert whole == [b"".join(stock)]
    assert whole[0].endswith(b"\r\n\r\n" + SIGN_UP)


@pytest.mark.parametrize("body", [b"", None], ids=["empty-body", "no-body"])
def test_a_request_without_body_bytes_still_sends_its_head(body):
    stock = sends(awsrequest.AWSHTTPConnection, body)
    whole = sends(_lean(awsrequest.AWSHTTPConnection), body)
    assert b"".join(whole) == b"".join(stock)
    assert whole[0].startswith(b"POST / HTTP/1.1\r\n")


def test_botocore_s_pools_make_lean_connections_once(monkeypatch):
    for pool in (awsrequest.AWSHTTPConnectionPool, awsrequest.AWSHTTPSConnectionPool):
        monkeypatch.setattr(pool, "ConnectionCls", pool.ConnectionCls)  # restored afterwards
    install()
    install()
    for pool in (awsrequest.AWSHTTPConnectionPool, awsrequest.AWSHTTPSConnectionPool):
        assert pool.ConnectionCls.lean
        # Wrapped once, not once per call: the class under it is botocore's own.
        assert not getattr(pool.ConnectionCls.__mro__[1], "lean", False)


@pytest.fixture
def connected() -> Iterator[tuple[awsrequest.AWSHTTPConnection, socket.socket]]:
    """A lean connection with a real socket, and the server's end of it."""
    ours, theirs = socket.socketpair()
    connection = _lean(awsrequest.AWSHTTPConnection)("cognito-idp.us-east-1.amazonaws.com", 443)
    connection.sock = ours
    with ours, theirs:
        yield connection, theirs


def test_an_idle_open_connection_is_connected(connected):
    connection, _ = connected
    assert connection.is_connected


def test_a_connection_the_server_closed_is_not(connected):
    connection, theirs = connected
    theirs.shutdown(socket.SHUT_WR)
    assert not connection.is_connected


def test_a_connection_with_bytes_nobody_asked_for_is_not(connected):
    # As urllib3 has it: the next answer read on it would be the wrong one.
    connection, theirs = connected
    theirs.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    assert not connection.is_connected


def test_a_connection_never_opened_is_not():
    assert not _lean(awsrequest.AWSHTTPConnection)(
        "cognito-idp.us-east-1.amazonaws.com"
    ).is_connected


class _KeepAliveCognito:
    """The double as Cognito's endpoint behaves: HTTP/1.1 connections kept open between calls
    (the double's own server closes each), until ``close_idle()`` closes them all, as a load
    balancer's idle timeout does. Each call is relayed to the double."""

    def __init__(self, upstream: str) -> None:
        self.connections: list[socket.socket] = []
        front = self

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                front.connections.append(self.connection)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items() if k.lower().startswith("x-amz")}
                headers["Content-Type"] = self.headers["Content-Type"]
                try:
                    answer = urllib.request.urlopen(
                        urllib.request.Request(upstream, body, headers), timeout=5
                    )
                except urllib.error.HTTPError as error:
                    answer = error
                with answer:
                    data = answer.read()
                    self.send_response(answer.status)
                    for name in ("Content-Type", "x-amzn-RequestId", "x-amzn-ErrorType"):
                        if answer.headers[name]:
                            self.send_header(name, answer.headers[name])
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close_idle(self) -> None:
        for connection in self.connections:
            connection.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def keep_alive_cognito(cognito, monkeypatch) -> Iterator[_KeepAliveCognito]:
    front = _KeepAliveCognito(cognito.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", front.url)
    yield front
    front.stop()


def test_sign_ups_share_one_kept_connection(make_app, keep_alive_cognito):
    client = make_app().test_client()
    for email in ("ada@example.com", "grace@example.com"):
        assert client.post("/register", json=signup_body(email=email)).status_code == 201
    assert len(keep_alive_cognito.connections) == 1


def test_a_sign_up_after_cognito_closed_the_idle_connection_gets_a_new_one(
    make_app, keep_alive_cognito
):
    # Calls are never retried (a retried SignUp can meet its own user): sent on the closed
    # connection, this sign-up would fail with a 502.
    client = make_app().test_client()
    assert client.post("/register", json=signup_body(email="ada@example.com")).status_code == 201
    keep_alive_cognito.close_idle()

    response = client.post("/register", json=signup_body(email="grace@example.com"))

    assert response.status_code == 201, response.json
    assert len(keep_alive_cognito.connections) == 2
