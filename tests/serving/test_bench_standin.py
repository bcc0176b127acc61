"""The benchmark's Cognito stand-in (bench/standin.py) answers SignUp as botocore expects it to,
and range lookups as the Pwned Passwords range API does."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from app.breached import BreachedPasswords, Exposure
from app.config import BreachedPasswordSettings
from bench import run

LATENCY_SECONDS = 0.1


@pytest.fixture(scope="module")
def standin() -> Iterator[int]:
    """The stand-in as the bench starts it (answering already); yields its port."""
    with run.standin(LATENCY_SECONDS * 1000) as environment:
        yield urlsplit(environment["AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"]).port


def client(port: int):
    return boto3.session.Session().client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=1),
    )


def sign_up_request(username: str) -> bytes:
    body = json.dumps({"ClientId": "c", "Username": username, "Password": "p"}).encode()
    return (
        b"POST / HTTP/1.1\r\nHost: cognito\r\n"
        b"X-Amz-Target: AWSCognitoIdentityProviderService.SignUp\r\n"
        b"Content-Type: application/x-amz-json-1.1\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def read_answers(sock: socket.socket, count: int) -> list[tuple[bytes, dict]]:
    received, answers = b"", []
    while len(answers) < count:
        chunk = sock.recv(65536)
        assert chunk, "the stand-in closed the connection"
        received += chunk
        while (end := received.find(b"\r\n\r\n")) >= 0:
            head = received[:end]
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(received) < end + 4 + length:
                break
            body, received = received[end + 4 : end + 4 + length], received[end + 4 + length :]
            answers.append((head.split(b"\r\n")[0], json.loads(body)))
    return answers


def test_each_sign_up_is_answered_as_cognito_would_after_the_latency(standin):
    cognito = client(standin)
    subs = set()
    for number in range(2):  # the second over the first's kept-alive connection
        started = time.monotonic()
        answer = cognito.sign_up(ClientId="c", Username=f"u{number}@example.com", Password="p")
        assert time.monotonic() - started >= LATENCY_SECONDS
        assert answer["UserConfirmed"] is False
        assert answer["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
        subs.add(answer["UserSub"])
    assert len(subs) == 2


def test_requests_split_across_sends_or_sent_together_are_each_answered(standin):
    first, second, third = (sign_up_request(f"u{n}@example.com") for n in range(3))
    with socket.create_connection(("127.0.0.1", standin), timeout=5) as sock:
        for piece in (first[:20], first[20:-5], first[-5:]):  # head, then body, in pieces
            sock.sendall(piece)
            time.sleep(0.02)
        sock.sendall(second + third)
        answers = read_answers(sock, 3)

    assert [status for status, _ in answers] == [b"HTTP/1.1 200 OK"] * 3
    assert len({body["UserSub"] for _, body in answers}) == 3


def test_any_other_operation_is_refused(standin):
    with pytest.raises(ClientError) as refused:
        client(standin).confirm_sign_up(
            ClientId="c", Username="u@example.com", ConfirmationCode="1"
        )

    assert refused.value.response["Error"]["Code"] == "UnknownOperationException"
    metadata = refused.value.response["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 400
    assert metadata["HTTPHeaders"]["x-amzn-errortype"] == "UnknownOperationException"


RANGE_LINE = re.compile(rb"[0-9A-F]{35}:[0-9]+")


def test_a_range_lookup_is_answered_in_the_real_format_padded(standin):
    request = urllib.request.Request(
        f"http://127.0.0.1:{standin}/range/5BAA6", headers={"Add-Padding": "true"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        status, content_type, body = (
            response.status,
            response.headers["Content-Type"],
            response.read(),
        )

    lines = body.split(b"\r\n")
    assert (status, content_type) == (200, "text/plain")
    assert all(RANGE_LINE.fullmatch(line) for line in lines)
    assert 800 <= len(lines) <= 1000
    suffixes = [line.split(b":")[0] for line in lines]
    assert suffixes == sorted(suffixes)
    counts = [int(line.split(b":")[1]) for line in lines]
    assert 0 < counts.count(0) < len(lines)  # padding among breached lines


@pytest.mark.parametrize("path", ["/range/5BAA", "/range/5BAAZ", "/range/5BAA61"])
def test_a_range_lookup_without_five_hex_characters_is_not_found(standin, path):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{standin}{path}", timeout=5)
    refused.value.close()

    assert refused.value.code == 404


def test_the_service_gateway_gets_a_verdict_from_the_standin(standin):
    gateway = BreachedPasswords(
        BreachedPasswordSettings(range_url=f"http://127.0.0.1:{standin}/range/", cache_size=0)
    )
    try:
        assert gateway.check("Correct-h0rse") is Exposure.PASSED  # the bench load's password
    finally:
        gateway.close()
