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


class SignUps:
    """One HTTP/1.1 keep-alive connection posting sign-ups, opened again when the server closes
    it after an answer (the naive proxy's sync worker does)."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, email: str) -> bytes:
        """Sign up ``email``; the answer's status line, once its body is read."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(*self._address)
        assert self._reader is not None
        body = json.dumps({"email": email, "password": "Correct-h0rse"}).encode()
        self._writer.write(
            b"POST /register HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        status, *lines = (await self._reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        headers = dict(line.lower().split(b":", 1) for line in lines if line)
        await self._reader.readexactly(int(headers.get(b"content-length", 0)))
        if headers.get(b"connection", b"").strip() == b"close":
            self.close()
        return status

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None


async def _connection(
    host: str, port: int, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    connection = SignUps(host, port)
    tag = uuid.uuid4().hex[:12]
    count = 0
    try:
        while time.monotonic() < deadline:
            count += 1
            started = time.monotonic()
            status = await connection.post(f"p{tag}-{count}@example.com")
            latencies.append(time.monotonic() - started)
            if not status.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                errors.append(1)
    except (ConnectionError, asyncio.IncompleteReadError):
        errors.append(1)
    finally:
        connection.close()


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
