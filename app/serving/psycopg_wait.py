"""psycopg's waits for the server, each one watcher in gevent's hub."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import gevent.socket
import psycopg.waiting
from gevent.hub import get_hub


def install() -> None:
    """psycopg's waits for the server, each one watcher in gevent's hub.

    Under gevent, psycopg falls back to its pure-Python poll loop on gevent's emulated
    ``select.poll``: a poll object, a registration and watchers per wait. Waiting on one watcher
    instead cut a loaded worker's CPU per sign-up by about a tenth (docs/performance.md).
    psycopg picks its wait function once, as ``psycopg.waiting.wait``.
    """
    psycopg.waiting.wait = _wait


_READY = {
    psycopg.waiting.WAIT_R: psycopg.waiting.READY_R,
    psycopg.waiting.WAIT_W: psycopg.waiting.READY_W,
    # Waiting for either, either may be ready: psycopg's generators then try to read and to
    # flush, neither of which blocks on a non-blocking connection.
    psycopg.waiting.WAIT_RW: psycopg.waiting.READY_RW,
}


def _wait(
    gen: Generator[Any, Any, Any], fileno: int, interval: float = 0.0, timeout: float | None = None
) -> Any:
    if timeout is not None:  # a timed wait (cancelling a query): psycopg's loop, on gevent's poll
        return psycopg.waiting.wait_poll(gen, fileno, interval=interval, timeout=timeout)
    loop = get_hub().loop
    try:
        state = next(gen)
        while True:
            gevent.socket.wait(loop.io(fileno, int(state)))
            state = gen.send(_READY[state])
    except StopIteration as stop:
        return stop.value
