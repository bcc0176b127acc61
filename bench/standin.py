"""A Cognito stand-in for benchmarks: SignUp over the JSON protocol, with an added latency.

It stands for a service that runs on someone else's machines, yet here it shares the two cores
with what is measured: every cycle it spends is taken from the service (which uses both cores)
more than from the naive proxy (whose one worker holds one core). So it does as little as it can:
one asyncio protocol per connection, the request's head searched for in the bytes as they arrive,
the answer sent from a timer, with no task, stream or header dictionary per request. It checks
nothing: the strict double in tests/ does that. Run:
``python bench/standin.py --port 9000 --latency-ms 150``.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

SIGN_UP = b"x-amz-target: awscognitoidentityproviderservice.signup\r\n"
CONTENT_LENGTH = b"\r\ncontent-length:"

# Cognito's answer to a new sign-up, a new UserSub in each.
SIGNED_UP = (
    b'{"UserConfirmed": false, "UserSub": "%s", "CodeDeliveryDetails": {"Destination": '
    b'"a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}}'
)
UNKNOWN = b'{"__type": "UnknownOperationException"}'


def answer(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/x-amz-json-1.1\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class StandIn(asyncio.Protocol):
    """One keep-alive connection: each request answered ``latency`` seconds after it arrived."""

    def __init__(self, latency: float) -> None:
        self._latency = latency
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[: end + 2].lower()
            length = 0
            if (at := head.find(CONTENT_LENGTH)) >= 0:
                start = at + len(CONTENT_LENGTH)
                length = int(head[start : head.index(b"\r\n", start)])
            if len(self._buffer) < end + 4 + length:
                return  # the body is still on its way
            self._buffer = self._buffer[end + 4 + length :]
            if SIGN_UP in head:
                reply = answer(b"200 OK", SIGNED_UP % str(uuid.uuid4()).encode())
            else:
                reply = answer(b"400 Bad Request", UNKNOWN)
            if self._latency:
                asyncio.get_running_loop().call_later(self._latency, self._send, reply)
            else:
                self._send(reply)

    def _send(self, reply: bytes) -> None:
        if self._transport is not None:
            self._transport.write(reply)


async def serve(port: int, latency: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StandIn(latency), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.latency_ms / 1000))


if __name__ == "__main__":
    main()
