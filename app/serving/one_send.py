"""gunicorn's responses with the head and the body in one send.

gunicorn writes a response's status line and headers with one ``sendall`` and its body with
another: two trips through gevent's socket, two segments on the wire and two reads for the client,
for a sign-up's answer of a few hundred bytes. :class:`OneSendResponse` holds the head back until
the first body bytes and sends the two together; the bytes on the wire are gunicorn's own. Under
load (`make bench`, fast stand-in) that was about a tenth of a worker's CPU per sign-up
(docs/performance.md).
"""

from __future__ import annotations

from typing import Any

from gunicorn.http import wsgi


class _Held:
    """Takes the place of the socket while gunicorn writes the head: keeps the bytes."""

    def __init__(self) -> None:
        self.data = b""

    def sendall(self, data: bytes) -> None:
        self.data += data


class OneSendResponse(wsgi.Response):
    _head = b""

    def send_headers(self) -> None:
        if self.headers_sent:
            return
        sock, held = self.sock, _Held()
        self.sock = held
        try:
            super().send_headers()
        finally:
            self.sock = sock
        self._head = held.data

    def _emit_body(self, data: bytes) -> None:
        if self._head and not self.chunked:
            head, self._head = self._head, b""
            self.sock.sendall(head + data)
            return
        self._send_head()
        super()._emit_body(data)

    def sendfile(self, respiter: Any) -> bool:
        # gunicorn's sendfile writes to the socket itself once the head is out.
        self.send_headers()
        self._send_head()
        return super().sendfile(respiter)

    def close(self) -> None:
        # A response with no body (204, HEAD, an empty one) has only its head to send.
        self.send_headers()
        self._send_head()
        super().close()

    def _send_head(self) -> None:
        if self._head:
            head, self._head = self._head, b""
            self.sock.sendall(head)


def install() -> None:
    """Every worker's responses, whatever its class: ``wsgi.create`` builds ``wsgi.Response``."""
    wsgi.Response = OneSendResponse
