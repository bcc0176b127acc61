"""A small HTTP/1.1 keep-alive load generator, used when wrk is not installed.

Each of ``connections`` coroutines posts sign-ups back to back until the time is up; the result has
the same keys as bench/load.lua's summary.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid


async def _connection(
    host: str, port: int, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    tag = uuid.uuid4().hex[:12]
    count = 0
    try:
        while time.monotonic() < deadline:
            count += 1
            body = json.dumps(
                {"email": f"p{tag}-{count}@example.com", "password": "Correct-h0rse"}
            ).encode()
            started = time.monotonic()
            writer.write(
                b"POST /register HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.monotonic() - started)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                errors.append(1)
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    except (ConnectionError, asyncio.IncompleteReadError):
        errors.append(1)
    finally:
        writer.close()


async def _run(host: str, port: int, connections: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[int] = []
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(
        *(_connection(host, port, deadline, latencies, errors) for _ in range(connections))
    )
    elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "errors": len(errors),
    }


def run(host: str, port: int, connections: int, seconds: float) -> dict[str, float]:
    return asyncio.run(_run(host, port, connections, seconds))
