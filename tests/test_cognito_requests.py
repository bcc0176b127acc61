"""Requests to Cognito leave in one send: the same bytes as botocore's, head and body together."""

from __future__ import annotations

import json

import pytest
from botocore import awsrequest

from app.cognito import _whole, send_requests_whole

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
    whole = sends(_whole(awsrequest.AWSHTTPConnection), SIGN_UP)
    assert len(stock) == 2
    assert whole == [b"".join(stock)]
    assert whole[0].endswith(b"\r\n\r\n" + SIGN_UP)


@pytest.mark.parametrize("body", [b"", None], ids=["empty-body", "no-body"])
def test_a_request_without_body_bytes_still_sends_its_head(body):
    stock = sends(awsrequest.AWSHTTPConnection, body)
    whole = sends(_whole(awsrequest.AWSHTTPConnection), body)
    assert b"".join(whole) == b"".join(stock)
    assert whole[0].startswith(b"POST / HTTP/1.1\r\n")


def test_botocore_s_pools_make_whole_connections_once():
    send_requests_whole()
    send_requests_whole()
    for pool in (awsrequest.AWSHTTPConnectionPool, awsrequest.AWSHTTPSConnectionPool):
        assert pool.ConnectionCls.sends_whole
        # Wrapped once, not once per call: the class under it is botocore's own.
        assert not getattr(pool.ConnectionCls.__mro__[1], "sends_whole", False)
