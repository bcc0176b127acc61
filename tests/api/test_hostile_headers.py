"""Requests gunicorn refuses before the app sees them, and bodies that lie about their size,
through gunicorn as `make run` serves it: a 4xx in the one error shape, and the server serves on."""

from __future__ import annotations

import contextlib
import json
import socket

import pytest

from tests.support.servers import Gunicorn, clean_environment

ERROR_SHAPE = {"status", "code", "message", "fields"}
VALID = b'{"email": "ada@example.com", "password": "Correct-h0rse"}'


@pytest.fixture(scope="module")
def served(cognito_server, tmp_path_factory):
    env = clean_environment(**cognito_server.settings(), SIGNUP_MAX_BODY_BYTES="4096")
    with Gunicorn(env, tmp_path_factory.mktemp("headers")) as server:
        yield server


def exchange(server: Gunicorn, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes; the status, headers and body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # The server may answer and close before reading everything: read its answer anyway.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def request(
    *headers: str, target: str = "/register", body: bytes = VALID, length: bool = True
) -> bytes:
    lines = [f"POST {target} HTTP/1.1", "Host: signup", "Connection: close", *headers]
    if not any(header.startswith("Content-Type") for header in headers):
        lines.append("Content-Type: application/json")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_error_shape(headers: dict[str, str], body: bytes, status: int) -> dict:
    assert headers["content-type"].startswith("application/json")
    document = json.loads(body)
    assert set(document) == ERROR_SHAPE
    assert document["status"] == status
    return document


TOO_LARGE = "request_header_fields_too_large"
STREAMED = "Transfer-Encoding: chunked"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (request("X-Padding: " + "x" * 10_000), 431, TOO_LARGE),
        (request(*(f"X-Header-{n}: x" for n in range(120))), 431, TOO_LARGE),
        (request(target="/register?" + "q" * 5000), 414, "request_uri_too_long"),
        (request("Bad Header: x"), 400, "bad_request"),
        (request("X-Null: a\x00b"), 400, "bad_request"),
        (b"POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "bad_request"),
    ],
    ids=["one-huge-header", "too-many-headers", "huge-request-line", "space-in-name", "nul", "cl"],
)
def test_gunicorns_refusals_are_4xx_in_the_error_shape(served, cognito, data, status, code):
    answered, headers, body = exchange(served, data)

    assert answered == status
    assert assert_error_shape(headers, body, status)["code"] == code
    assert cognito.received == []


def test_a_refused_request_leaves_the_server_serving(served, cognito):
    exchange(served, request("X-Padding: " + "x" * 10_000))

    status, _, _ = exchange(served, request())

    assert status == 201


def test_a_chunked_body_past_the_limit_is_a_413(served, cognito):
    status, headers, body = exchange(
        served, request("Transfer-Encoding: chunked", body=chunked(b"x" * 10_000), length=False)
    )

    assert status == 413, body
    assert assert_error_shape(headers, body, 413)["code"] == "request_entity_too_large"
    assert cognito.received == []


def test_a_content_length_past_the_limit_is_a_413_before_the_body_is_sent(served, cognito):
    head = request(body=b"").replace(b"Content-Length: 0", b"Content-Length: 100000000")

    status, headers, body = exchange(served, head)

    assert status == 413
    assert_error_shape(headers, body, 413)


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def form_of_length(length: int) -> bytes:
    """A sign-up form of exactly ``length`` bytes, its password last."""
    head, middle = b"email=ada%40example.com&given_name=", b"&family_name="
    tail = b"&password=Correct-h0rse-and-then-some"
    padding = length - len(head) - len(middle) - len(tail)
    return head + b"x" * (padding // 2) + middle + b"x" * (padding - padding // 2) + tail


def test_a_chunked_form_cut_at_the_limit_is_never_signed_up_with_half_a_password(served, cognito):
    # werkzeug stops reading a chunked body at the limit: the cut would fall inside the password.
    body = form_of_length(4096 + 10)
    form = ("Content-Type: application/x-www-form-urlencoded", "Accept: application/json")

    status, _, _ = exchange(served, request(*form, STREAMED, body=chunked(body), length=False))

    assert status == 413
    assert cognito.calls("SignUp") == []


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(served, cognito):
    body = form_of_length(4096)
    form = ("Content-Type: application/x-www-form-urlencoded", "Accept: application/json")

    status, _, _ = exchange(served, request(*form, STREAMED, body=chunked(body), length=False))

    assert status == 201
    [call] = cognito.calls("SignUp")
    assert call.params["Password"] == "Correct-h0rse-and-then-some"
