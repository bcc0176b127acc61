"""Short-lived sealed values kept between two requests: the sign-up Sessions Cognito hands out.

They live where the rate limits live (``RATELIMIT_STORAGE_URI``): with Redis, a confirmation that
reaches another worker or host finds what its sign-up left; with memory://, the one process
that serves (gunicorn's config allows no other) keeps them. Each value expires on its own and is
taken at most once. What is stored is already sealed by the caller (app/services/sign_in.py):
this module never sees a Session in clear.

A storage that fails leaves this module as ``errors.StorageUnavailable``; callers decide what a
missing value costs (here: a person confirmed but not signed in).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from limits.storage import RedisStorage, Storage

from app import errors
from app.storage.limits import open_storage


class SealedValues(Protocol):
    def put(self, key: str, value: bytes, seconds: int) -> None: ...

    def take(self, key: str) -> bytes | None: ...


class RedisValues:
    """SET with an expiry, and GETDEL: one round trip each, atomic, shared by every host."""

    def __init__(self, storage: RedisStorage, prefix: str) -> None:
        self._redis = storage.get_connection()
        self._failures = storage.base_exceptions
        self._prefix = prefix

    def put(self, key: str, value: bytes, seconds: int) -> None:
        try:
            self._redis.set(f"{self._prefix}:{key}", value, ex=seconds)
        except self._failures as error:
            raise errors.StorageUnavailable() from error

    def take(self, key: str) -> bytes | None:
        try:
            return self._redis.getdel(f"{self._prefix}:{key}")
        except self._failures as error:
            raise errors.StorageUnavailable() from error


class MemoryValues:
    """One process's values, for memory:// (one worker): expired ones are dropped as new come.

    Every value gets the same lifetime, so the oldest entries are the first to expire.
    """

    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, float]] = {}  # in insertion order
        self._lock = threading.Lock()

    def put(self, key: str, value: bytes, seconds: int) -> None:
        now = time.monotonic()
        with self._lock:
            while self._values:
                oldest = next(iter(self._values))
                if self._values[oldest][1] > now:
                    break
                del self._values[oldest]
            self._values[key] = (value, now + seconds)

    def take(self, key: str) -> bytes | None:
        with self._lock:
            value, expires = self._values.pop(key, (None, 0.0))
        return value if expires > time.monotonic() else None


def open_values(uri: str, prefix: str) -> SealedValues:
    """The values store in the rate-limit storage ``uri``, keys under ``prefix``."""
    storage: Storage = open_storage(uri)
    if isinstance(storage, RedisStorage):
        return RedisValues(storage, prefix)
    return MemoryValues()
