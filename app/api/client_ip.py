"""Which address a request really came from, resolved the same way for Cognito and rate limits."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from flask import current_app, request


def resolve_client_ip(
    remote_addr: str | None, forwarded_for: Iterable[str], trusted_proxy_count: int
) -> str | None:
    """The client's IP, or None when it cannot be trusted.

    With no trusted proxies the TCP peer is the client and X-Forwarded-For is ignored, since anyone
    can send it. Behind N proxies that each append the address they saw, the Nth entry from the
    right is the one our outermost proxy saw; everything to its left is the client's own claim.
    A missing or malformed entry gives None: a guess is never forwarded.
    """
    if trusted_proxy_count <= 0:
        return _normalised(remote_addr)
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    if len(hops) < trusted_proxy_count:
        return None
    return _normalised(hops[-trusted_proxy_count])


@functools.lru_cache(maxsize=4096)  # a request asks two to four times, for the same address
def _normalised(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def request_client_ip() -> str | None:
    """This request's client IP, behind TRUSTED_PROXY_COUNT proxies; None when untrusted."""
    return resolve_client_ip(
        request.remote_addr,
        request.headers.getlist("X-Forwarded-For"),
        current_app.config["TRUSTED_PROXY_COUNT"],
    )
