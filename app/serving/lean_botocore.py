"""botocore's connections to Cognito without two costs urllib3 adds to every request."""

from __future__ import annotations

import select
from typing import Any

from botocore import awsrequest
from gevent.monkey import get_original

# select.poll as the kernel gives it, gevent's patch or not: asked with a zero timeout, never waits.
_kernel_poll = get_original("select", "poll")


def _lean(connection_class: type) -> type:
    """``connection_class`` without two costs urllib3 adds to every request.

    urllib3 sends a request's head, then its body: two sends, two segments (two TLS records to
    Cognito), for a SignUp of under a kilobyte. Here the head waits for the body's first bytes.
    A request with ``Expect: 100-continue`` (botocore's for large uploads) waits for the server
    between the two, and a body that is not bytes may stream: both go as urllib3 sends them.

    Before reusing a pooled connection, urllib3 asks whether the server closed it: whether the
    socket is readable, with no wait. Under gevent its ``select.poll`` is gevent's, which builds
    watchers on the hub's loop for an answer the kernel gives at once; here the kernel is asked
    directly, the same question (readable: closed, or data nobody asked for), one syscall that
    never waits. Retries are off (a retried SignUp can meet its own user), so a closed connection
    that passed this check would fail a sign-up.
    """

    class LeanConnection(connection_class):
        lean = True
        _holding = False
        _head: bytes | None = None

        def request(
            self,
            method: str,
            url: str,
            body: Any = None,
            headers: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            expects_continue = (headers or {}).get("Expect") in (b"100-continue", "100-continue")
            self._holding, self._head = isinstance(body, bytes) and not expects_continue, None
            try:
                sent = super().request(method, url, body, headers, *args, **kwargs)
                if self._head is not None:  # an empty body: the head alone
                    super().send(self._head)
                return sent
            finally:
                self._holding, self._head = False, None

        def send(self, data: bytes) -> None:
            if self._holding:
                if self._head is None:
                    self._head = data
                    return
                data, self._head, self._holding = self._head + data, None, False
            super().send(data)

        @property
        def is_connected(self) -> bool:
            if self.sock is None:
                return False
            poller = _kernel_poll()
            poller.register(self.sock, select.POLLIN)
            return not poller.poll(0)

    LeanConnection.__name__ = LeanConnection.__qualname__ = f"Lean{connection_class.__name__}"
    return LeanConnection


def install() -> None:
    """botocore's connections to Cognito without urllib3's avoidable costs (see :func:`_lean`).

    Under load (`make bench`, fast stand-in) one send instead of two took about 4% off a worker's
    CPU per sign-up, the liveness check asked of the kernel about 2%. Set on botocore's pool
    classes, the only way in: a client's connection class is not a setting. This process's only
    botocore client is Cognito's.
    """
    for pool in (awsrequest.AWSHTTPConnectionPool, awsrequest.AWSHTTPSConnectionPool):
        if not getattr(pool.ConnectionCls, "lean", False):
            pool.ConnectionCls = _lean(pool.ConnectionCls)
