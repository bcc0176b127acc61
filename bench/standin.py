"""A Cognito stand-in for benchmarks: SignUp over the JSON protocol, with an added latency.

asyncio keeps hundreds of slow connections open at the cost of one thread, so the stand-in is never
the bottleneck it would be if it were the thing being measured. It checks nothing: the strict
double in tests/ does that. Run: ``python bench/standin.py --port 9000 --latency-ms 150``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid

SIGN_UP = b"AWSCognitoIdentityProviderService.SignUp"


async def handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
            headers = {key.strip().lower(): value.strip() for key, value in headers.items()}
            await reader.readexactly(int(headers.get(b"content-length", b"0")))
            if latency:
                await asyncio.sleep(latency)
            if headers.get(b"x-amz-target") == SIGN_UP:
                status, body = (
                    b"200 OK",
                    {
                        "UserConfirmed": False,
                        "UserSub": str(uuid.uuid4()),
                        "CodeDeliveryDetails": {
                            "Destination": "a***@e***",
                            "DeliveryMedium": "EMAIL",
                            "AttributeName": "email",
                        },
                    },
                )
            else:
                status, body = b"400 Bad Request", {"__type": "UnknownOperationException"}
            payload = json.dumps(body).encode()
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/x-amz-json-1.1\r\n"
                b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int, latency: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, latency), "127.0.0.1", port, backlog=1024
    )
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
