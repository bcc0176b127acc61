"""gunicorn's gevent worker: the serving patches installed before the app, connections closed
gracefully."""

from __future__ import annotations

import os
import socket
from typing import Any

from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker as _GeventWorker

from app.serving import patches


class GeventWorker(_GeventWorker):
    """Closes each connection gracefully (RFC 9112, section 9.6): FIN first, then the rest of the
    request is read and dropped, up to gunicorn's cap, before the socket goes.

    An answer given before the whole request was read, such as a 413 for a body past the limit,
    then reaches the client. Closed at once with unread bytes, a socket sends a reset, and the
    client loses the answer. gunicorn 27's sync and gthread workers close gracefully; its async
    workers do not.
    """

    def load_wsgi(self) -> None:
        """The patches SIGNUP_SERVING_PATCHES asks for, then the app.

        Here, not in gunicorn's post_fork hook: the worker has monkey-patched the standard
        library by now, so what the patches import sees gevent's sockets and locks.
        """
        patches.install(patches.chosen(os.environ))
        super().load_wsgi()

    def handle(self, listener: socket.socket, client: socket.socket, addr: Any) -> None:
        super().handle(listener, _ClosedGracefully(client), addr)


class _ClosedGracefully:
    """A client socket whose close() is gunicorn's graceful close; everything else unchanged."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def close(self) -> None:
        util.close_graceful(self._sock)
