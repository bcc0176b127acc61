"""Signing a person in after they confirm, and only in the client that started the sign-up.

Cognito's SignUp may answer with a Session (app clients with the USER_AUTH flow): passed to
ConfirmSignUp and then to InitiateAuth, it signs the person in without asking for a password
again. The Session never leaves the service. At sign-up the client gets a *handle* instead (an
HttpOnly cookie for a browser, a value in the answer for an app), and the Session is kept for
the sign-in window (the app client's AuthSessionValidity):

- sealed (AES-GCM) with a key derived from the handle, and stored under a name derived from the
  handle and the username, so the storage alone can neither read a Session nor tell whose it is;
- taken at most once, and only by a confirmation that brings the same handle for the same
  username. A confirmation without it (a code read in another browser, a forged form posted from
  a victim's browser) still confirms, but signs nobody in.

A handle carries when it was issued and a MAC: one we did not issue, or older than any code stays
valid, is refused before anything reaches Cognito. Every sign-up answer carries a handle, also
when there is no Session to keep (a pool without USER_AUTH, a hidden existing account), so the
answer never tells which case it was.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import struct
import time
from collections.abc import Callable
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app import errors
from app.config import Secret
from app.identity import normalised_identity
from app.storage.sessions import SealedValues

logger = logging.getLogger(__name__)

HANDLE_FIELD = "sign_in_handle"
# A confirmation code is valid for 24 hours: a handle older than that cannot be confirming.
HANDLE_LIFETIME = timedelta(hours=24)
CLOCK_SKEW_SECONDS = 60
_ISSUED = struct.Struct(">I")
_NONCE_BYTES = 16
_TAG_BYTES = 16
HANDLE_LENGTH = 48  # base64url of issued (4) + nonce (16) + tag (16), no padding
_GCM_NONCE_BYTES = 12


class SignIns:
    """Issues sign-in handles and keeps each sign-up's Session under its handle."""

    def __init__(
        self,
        values: SealedValues,
        *,
        key: bytes,
        window: timedelta,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._values = values
        self._key = key
        self._window_seconds = max(1, int(window.total_seconds()))
        self._clock = clock

    def begin(self, username: str, session: Secret | None) -> str:
        """A new handle; the Session, when there is one, kept under it for the window."""
        handle = self._new_handle()
        if session is None:
            return handle
        slot = _slot(handle, username)
        try:
            self._values.put(slot, _seal(handle, slot, session), self._window_seconds)
        except errors.StorageUnavailable:
            # The sign-up stands: the person confirms and is asked to sign in.
            logger.warning("A sign-up's Session could not be kept: it will not sign in by itself")
        return handle

    def check(self, handle: str) -> None:
        """Refuse a handle this service did not issue, or issued too long ago to be in use."""
        try:
            raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(handle) != HANDLE_LENGTH or len(raw) != _ISSUED.size + _NONCE_BYTES + _TAG_BYTES:
            raise _invalid()
        body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(body)):
            raise _invalid()
        (issued,) = _ISSUED.unpack(body[: _ISSUED.size])
        age = self._clock() - issued
        if not -CLOCK_SKEW_SECONDS <= age <= HANDLE_LIFETIME.total_seconds():
            raise _invalid()

    def take(self, handle: str, username: str) -> Secret | None:
        """The Session kept under ``handle`` for ``username``, once; None when there is none
        (expired, taken, never kept, another username's handle) or the storage failed."""
        slot = _slot(handle, username)
        try:
            sealed = self._values.take(slot)
        except errors.StorageUnavailable:
            logger.warning("The sign-up's Session could not be read: confirming without it")
            return None
        if sealed is None:
            return None
        return _unseal(handle, slot, sealed)

    def _new_handle(self) -> str:
        body = _ISSUED.pack(int(self._clock())) + os.urandom(_NONCE_BYTES)
        return base64.urlsafe_b64encode(body + self._tag(body)).decode("ascii")

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_TAG_BYTES]


def _invalid() -> errors.InvalidSignInHandle:
    return errors.InvalidSignInHandle(
        fields={HANDLE_FIELD: [errors.InvalidSignInHandle.description]}
    )


def _derived(purpose: str, *parts: str) -> bytes:
    message = "\0".join((f"signup-service/sign-in/{purpose}", *parts)).encode("utf-8")
    return hashlib.sha256(message).digest()


def _slot(handle: str, username: str) -> str:
    """Where a Session is kept: only the handle's holder, confirming that username, finds it."""
    return _derived("slot", handle, normalised_identity(username)).hex()


def _seal(handle: str, slot: str, session: Secret) -> bytes:
    nonce = os.urandom(_GCM_NONCE_BYTES)
    sealed = AESGCM(_derived("seal", handle)).encrypt(
        nonce, session.reveal().encode("utf-8"), slot.encode("ascii")
    )
    return nonce + sealed


def _unseal(handle: str, slot: str, sealed: bytes) -> Secret | None:
    nonce, body = sealed[:_GCM_NONCE_BYTES], sealed[_GCM_NONCE_BYTES:]
    try:
        plain = AESGCM(_derived("seal", handle)).decrypt(nonce, body, slot.encode("ascii"))
    except InvalidTag:
        logger.warning("A kept Session did not unseal: confirming without it")
        return None
    return Secret(plain.decode("utf-8"))
