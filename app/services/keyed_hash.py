"""Keyed hashes (HMAC-SHA256) for what the service stores in place of personal data and bodies."""

from __future__ import annotations

import hashlib
import hmac


def derive_key(master: str, purpose: str) -> bytes:
    """A key of its own for each purpose, so one hash can never be matched against another."""
    return hmac.new(master.encode("utf-8"), f"signup-service/{purpose}".encode(), "sha256").digest()


def keyed_hash(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()
