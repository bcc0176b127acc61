"""Idempotency keys: a retried request gets the first request's answer instead of a second call.

A key is claimed by inserting its row; the table's primary key lets exactly one of several
concurrent requests win. The others wait up to SIGNUP_IDEMPOTENCY_WAIT_SECONDS for the winner's
answer and replay it, or get a 409 ``idempotency_in_progress`` with Retry-After. Only answers the
client should not retry are kept: a 5xx or 429 releases the key, so a retry runs again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from app import errors
from app.services.keyed_hash import keyed_hash
from app.storage.models import utcnow
from app.storage.repository import IdempotencyKeys, StoredAnswer

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
# A claim still unanswered after this long belongs to a request that died (a killed worker): the
# same request may take it over. Well past the longest Cognito timeout (60 s) plus our own work.
ABANDONED_AFTER = timedelta(minutes=2)
POLL_SECONDS = 0.05
IN_PROGRESS_RETRY_AFTER_SECONDS = 1


def keepable(status: int) -> bool:
    """Whether an answer is final for this request: not a server failure, not a throttle."""
    return status < 500 and status != 429


class IdempotencyService:
    def __init__(
        self,
        keys: IdempotencyKeys,
        *,
        request_key: bytes,
        ttl: timedelta,
        wait_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._keys = keys
        self._request_key = request_key
        self._ttl = ttl
        self._wait_seconds = wait_seconds
        self._clock = clock

    def request_hash(self, request: Mapping[str, Any]) -> str:
        """A keyed hash of the request in canonical JSON: key order and spacing do not matter."""
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return keyed_hash(self._request_key, canonical)

    def begin(self, key: str, request: Mapping[str, Any]) -> StoredAnswer | None:
        """None when the caller now owns ``key`` and must run the request; else the stored answer.

        Raises IdempotencyKeyReused for a different request under the same key, and
        IdempotencyInProgress when the first request has not answered within the wait.
        """
        request_hash = self.request_hash(request)
        deadline = time.monotonic() + self._wait_seconds
        while True:
            now = self._clock()
            if self._keys.claim(key, request_hash, now, now + self._ttl) or self._keys.take_over(
                key,
                request_hash,
                now=now,
                abandoned_before=now - ABANDONED_AFTER,
                expires_at=now + self._ttl,
            ):
                return None
            state = self._keys.get(key)
            if state is not None and state.request_hash != request_hash:
                raise errors.IdempotencyKeyReused(
                    fields={HEADER: [errors.IdempotencyKeyReused.description]}
                )
            if state is not None and state.answer is not None:
                return state.answer
            if time.monotonic() >= deadline:
                raise errors.IdempotencyInProgress(retry_after=IN_PROGRESS_RETRY_AFTER_SECONDS)
            time.sleep(POLL_SECONDS)

    def finish(self, key: str, answer: StoredAnswer) -> None:
        """Keep the answer for replays, or release the key when a retry should run again."""
        if not keepable(answer.status):
            self.abandon(key)
            return
        try:
            self._keys.store(key, answer)
        except errors.StorageUnavailable:
            logger.error(
                "The answer to an Idempotency-Key request (status %s) could not be stored: "
                "retries with that key get 409 until the claim is abandoned after %s",
                answer.status,
                ABANDONED_AFTER,
            )

    def abandon(self, key: str) -> None:
        try:
            self._keys.release(key)
        except errors.StorageUnavailable:
            logger.warning(
                "An Idempotency-Key claim could not be released: a retry may take it over after %s",
                ABANDONED_AFTER,
            )
