"""A Cognito stand-in for benchmarks: SignUp over the JSON protocol, with an added latency, and
the Pwned Passwords range API: ``GET /range/<5 hex>``.

It stands for services that run on someone else's machines, yet here it shares the two cores
with what is measured: every cycle it spends is taken from the service (which uses both cores)
more than from the naive proxy (whose one worker holds one core). So it does as little as it can:
one asyncio protocol per connection, the request's head searched for in the bytes as they arrive,
the answer sent from a timer, with no task, stream or header dictionary per request. It checks
nothing: the embedded Cognito (app/serving/embedded_cognito.py) does that, and lends it its wire
format, once, at start. A range request gets one answer computed at start, whatever the prefix:
the real format (uppercase 35-hex ``SUFFIX:COUNT`` lines, CRLF-joined, sorted) at the real size
with ``Add-Padding: true`` (800-1000 lines, the padding's count 0), so the service parses as much
as it would; it is sent at once, the added latency being Cognito's (each client keeps its own
connections, so a range answer never overtakes a delayed sign-up's on one connection).
Run: ``python bench/standin.py --port 9000 --latency-ms 150``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.serving.embedded_cognito import CONTENT_TYPE, TARGET_PREFIX, CognitoError, code_delivery

# The request's head, lowercased, as it arrives.
SIGN_UP = f"x-amz-target: {TARGET_PREFIX}SignUp\r\n".lower().encode()
RANGE = b"get /range/"
_HEX = frozenset(b"0123456789abcdef")
CONTENT_LENGTH = b"\r\ncontent-length:"

# Cognito's answer to a new sign-up, a new UserSub in each.
SIGNED_UP = json.dumps(
    {
        "UserConfirmed": False,
        "UserSub": "%s",
        "CodeDeliveryDetails": code_delivery({"email": "ada@example.com"}),
    }
).encode()
_UNKNOWN = CognitoError("UnknownOperationException", "The stand-in answers SignUp only.")


_CONTENT_TYPE = b"\r\nContent-Type: " + CONTENT_TYPE.encode() + b"\r\n"


def answer(status: bytes, body: bytes, headers: bytes = b"") -> bytes:
    """The HTTP answer; ``headers`` are extra lines, each ending in CRLF."""
    return (
        b"HTTP/1.1 " + status + _CONTENT_TYPE + headers
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


# Every other call gets the one error answer, in Cognito's shape.
UNKNOWN = answer(
    b"400 Bad Request",
    _UNKNOWN.body(),
    b"".join(f"{name}: {value}\r\n".encode() for name, value in _UNKNOWN.headers().items()),
)


def range_body(lines: int = 900, padding: int = 300, seed: int = 0) -> bytes:
    """A padded range answer: ``lines - padding`` breached suffixes with a count, ``padding``
    more with a count of 0, sorted together. Random suffixes: the load's password is not among
    them (one chance in 16**35 per line), so its check passes and the sign-up goes on."""
    draw = random.Random(seed)
    counts = [draw.randint(1, 5000) for _ in range(lines - padding)] + [0] * padding
    suffixes = sorted(f"{draw.getrandbits(140):035X}" for _ in range(lines))
    draw.shuffle(counts)  # padding sorted in among the breached lines, as the API does
    return "\r\n".join(f"{s}:{c}" for s, c in zip(suffixes, counts, strict=True)).encode()


# The range API's answer to any prefix, headers and all, built once.
_RANGE_BODY = range_body()
RANGE_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    + b"Content-Length: " + str(len(_RANGE_BODY)).encode() + b"\r\n\r\n" + _RANGE_BODY
)  # fmt: skip
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def range_reply(head: bytes) -> bytes:
    """The answer to ``GET /range/<5 hex>`` (``head`` lowercased), a 404 to any other path."""
    prefix = head[len(RANGE) : len(RANGE) + 6]
    if prefix[5:] == b" " and _HEX.issuperset(prefix[:5]):
        return RANGE_ANSWER
    return NOT_FOUND


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
            if head.startswith(RANGE):
                self._send(range_reply(head))
                continue
            if SIGN_UP in head:
                reply = answer(b"200 OK", SIGNED_UP % str(uuid.uuid4()).encode())
            else:
                reply = UNKNOWN
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
