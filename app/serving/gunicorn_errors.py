"""gunicorn's own refusals in the service's one error shape.

gunicorn answers some requests before the app sees them: a request line or a header past its
limits (414, 431), a malformed request (400). Its answer is a small HTML page quoting the
offending input. :func:`install` has every worker answer those in the JSON shape of
``app.errors`` instead, with our words for the status and nothing of the request.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util


def write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, same signature; ``mesg`` (request text) is left out."""
    from werkzeug.exceptions import InternalServerError, default_exceptions

    from app.errors import error_body  # in the worker, where the app is loaded anyway

    payload = json.dumps(error_body(default_exceptions.get(status_int, InternalServerError)()))
    payload = payload.encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + payload)


def install() -> None:
    util.write_error = write_error
