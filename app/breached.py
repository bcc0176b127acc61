"""Breached-password checks with the Pwned Passwords range API (k-anonymity).

The password's SHA-1 is taken in uppercase hex; only its first 5 characters (the prefix) are
sent, as ``GET {range_url}{PREFIX}``. The API answers with every breached hash sharing that
prefix, one ``SUFFIX:COUNT`` line each (the other 35 hex characters, and how often the password
was seen), CRLF-separated and sorted by suffix. The suffix is compared here, so neither the
password nor its full hash leaves the process. With ``Add-Padding: true`` the answer also holds
random suffixes with a count of 0, so every answer is about as long and its size tells an
observer nothing; those lines never match. This module turns that exchange into an exposure;
what to do with an unavailable API is the service's policy.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable

import cachetools
import urllib3

from app.config import BreachedPasswordSettings
from app.telemetry import metrics

logger = logging.getLogger(__name__)

PREFIX_LENGTH = 5
# The range API asks every client to name itself.
USER_AGENT = "signup-service"
# One answer line: the hash's other 35 hex characters, then how often it was seen.
_LINE = re.compile(r"(?P<suffix>[0-9A-Fa-f]{35}):(?P<count>[0-9]+)")


class Exposure(enum.Enum):
    PASSED = "passed"
    BREACHED = "breached"
    UNAVAILABLE = "unavailable"


class MalformedAnswer(ValueError):
    """The body is not the range API's ``SUFFIX:COUNT`` lines."""


class BreachedPasswords:
    """Asks the range API whether a password appears in known breaches; one instance per process.

    Each prefix's answer is kept for ``cache_ttl`` (up to ``cache_size`` prefixes, none at 0) as
    the set of suffixes seen at least ``min_count`` times: no count, no padding, no password.
    """

    def __init__(
        self,
        settings: BreachedPasswordSettings,
        *,
        max_connections: int = 10,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """``max_connections``: kept-alive connections to the API, sized like Cognito's pool to
        a worker's concurrency; more checks at once open (and then drop) extra ones."""
        self._settings = settings
        self._http = urllib3.PoolManager(
            maxsize=max_connections,
            retries=False,
            timeout=urllib3.Timeout(total=settings.timeout_seconds),
            headers={"Add-Padding": "true", "User-Agent": USER_AGENT},
        )
        self._cache: cachetools.TTLCache[str, frozenset[str]] | None = None
        if settings.cache_size > 0:
            self._cache = cachetools.TTLCache(
                maxsize=settings.cache_size,
                ttl=settings.cache_ttl.total_seconds(),
                timer=timer,
            )
        self._lock = threading.Lock()

    @property
    def fail_open(self) -> bool:
        """Whether sign-ups go on without a verdict while the range API is unavailable."""
        return self._settings.fail_open

    def check(self, password: str) -> Exposure:
        # SHA-1 because the API's corpus is keyed by it, not to protect anything. A lone
        # surrogate (which UTF-8 cannot encode) gives a hash no breach holds, never an error.
        digest = hashlib.sha1(
            password.encode("utf-8", "surrogatepass"), usedforsecurity=False
        ).hexdigest()
        prefix, suffix = digest[:PREFIX_LENGTH].upper(), digest[PREFIX_LENGTH:].upper()
        breached = self._cached(prefix)
        if breached is None:
            breached = self._fetch(prefix)
        if breached is None:
            outcome = Exposure.UNAVAILABLE
        else:
            outcome = Exposure.BREACHED if suffix in breached else Exposure.PASSED
        metrics.count_breached_password_check(outcome.value)
        return outcome

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._http.clear()

    def _cached(self, prefix: str) -> frozenset[str] | None:
        if self._cache is None:
            return None
        with self._lock:
            return self._cache.get(prefix)

    def _fetch(self, prefix: str) -> frozenset[str] | None:
        """The suffixes under ``prefix`` seen at least ``min_count`` times; None on failure.

        Failures are not cached: the next check asks again. Logs name the status or the
        exception's type only: an exception's text holds the URL, and so the prefix.
        """
        try:
            response = self._http.request("GET", self._settings.range_url + prefix)
            if response.status != 200:
                logger.warning("Pwned Passwords range API answered HTTP %s", response.status)
                return None
            breached = self._breached_suffixes(response.data.decode("ascii"))
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            # Timeouts, refused connections and bodies that are not the range format alike.
            logger.warning("Pwned Passwords range API failed: %s", type(error).__name__)
            return None
        if self._cache is not None:
            with self._lock:
                self._cache[prefix] = breached
        return breached

    def _breached_suffixes(self, body: str) -> frozenset[str]:
        lines = body.splitlines()
        if not lines:
            # Every prefix has breached hashes, and padding is asked for: not the range API.
            raise MalformedAnswer("empty answer")
        # A count of 0 is padding: never a match, whatever min_count says.
        min_count = max(self._settings.min_count, 1)
        breached = set()
        for line in lines:
            match = _LINE.fullmatch(line)
            if match is None:
                raise MalformedAnswer("not a SUFFIX:COUNT line")
            if int(match["count"]) >= min_count:
                breached.add(match["suffix"].upper())
        return frozenset(breached)
