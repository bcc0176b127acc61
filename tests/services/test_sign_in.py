"""Sign-in handles and the Sessions kept under them (app/services/sign_in.py), in one process."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from app import errors
from app.config import Secret
from app.services.sign_in import HANDLE_LIFETIME, SignIns
from app.storage.sessions import MemoryValues

KEY = b"k" * 32
SESSION = "AYABeC0ffee" * 10


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def values() -> MemoryValues:
    return MemoryValues()


@pytest.fixture
def sign_ins(values: MemoryValues, clock: Clock) -> SignIns:
    return SignIns(values, key=KEY, window=timedelta(minutes=3), clock=clock)


def test_the_handle_s_holder_gets_the_session_back_once(sign_ins: SignIns) -> None:
    handle = sign_ins.begin("Ada@Example.com", Secret(SESSION))

    sign_ins.check(handle)
    kept = sign_ins.take(handle, "ada@example.com")  # as Cognito compares usernames

    assert kept is not None
    assert kept.reveal() == SESSION
    assert sign_ins.take(handle, "ada@example.com") is None


def test_a_handle_finds_nothing_for_another_username(sign_ins: SignIns) -> None:
    handle = sign_ins.begin("ada@example.com", Secret(SESSION))

    assert sign_ins.take(handle, "mallory@example.com") is None
    # ...and the attempt did not spend the real one.
    assert sign_ins.take(handle, "ada@example.com") is not None


def test_another_sign_up_s_handle_finds_nothing(sign_ins: SignIns) -> None:
    sign_ins.begin("ada@example.com", Secret(SESSION))
    other = sign_ins.begin("bob@example.com", Secret("another-session-value"))

    assert sign_ins.take(other, "ada@example.com") is None


def test_the_store_holds_neither_the_session_nor_the_handle_in_clear(
    sign_ins: SignIns, values: MemoryValues
) -> None:
    handle = sign_ins.begin("ada@example.com", Secret(SESSION))

    [(slot, (sealed, _expires))] = values._values.items()
    assert SESSION.encode() not in sealed
    assert handle not in slot
    assert "ada" not in slot
    assert handle.encode() not in sealed


def test_a_sign_up_without_a_session_gets_a_handle_all_the_same(
    sign_ins: SignIns, values: MemoryValues
) -> None:
    handle = sign_ins.begin("ada@example.com", None)

    sign_ins.check(handle)
    assert values._values == {}
    assert sign_ins.take(handle, "ada@example.com") is None


def test_a_handle_we_did_not_issue_is_refused(sign_ins: SignIns) -> None:
    handle = sign_ins.begin("ada@example.com", None)
    raw = bytearray(base64.urlsafe_b64decode(handle))
    raw[-1] ^= 1  # one bit of the MAC
    forged = base64.urlsafe_b64encode(bytes(raw)).decode()

    with pytest.raises(errors.InvalidSignInHandle) as refused:
        sign_ins.check(forged)
    assert list(refused.value.fields) == ["sign_in_handle"]


def test_a_handle_from_another_deployment_is_refused(values: MemoryValues, clock: Clock) -> None:
    theirs = SignIns(values, key=b"x" * 32, window=timedelta(minutes=3), clock=clock)
    ours = SignIns(values, key=KEY, window=timedelta(minutes=3), clock=clock)

    with pytest.raises(errors.InvalidSignInHandle):
        ours.check(theirs.begin("ada@example.com", None))


@pytest.mark.parametrize("handle", ["", "short", "!" * 48, "A" * 47, "A" * 49])
def test_a_malformed_handle_is_refused(sign_ins: SignIns, handle: str) -> None:
    with pytest.raises(errors.InvalidSignInHandle):
        sign_ins.check(handle)


def test_a_handle_older_than_any_code_is_stale(sign_ins: SignIns, clock: Clock) -> None:
    handle = sign_ins.begin("ada@example.com", None)

    clock.now += HANDLE_LIFETIME.total_seconds() - 1
    sign_ins.check(handle)  # a code sent a day ago may still be typed in
    clock.now += 2
    with pytest.raises(errors.InvalidSignInHandle):
        sign_ins.check(handle)


def test_a_kept_session_expires_with_the_window() -> None:
    values = MemoryValues()
    sign_ins = SignIns(values, key=KEY, window=timedelta(seconds=1))
    handle = sign_ins.begin("ada@example.com", Secret(SESSION))

    values._values = {
        slot: (sealed, expires - 2) for slot, (sealed, expires) in values._values.items()
    }

    assert sign_ins.take(handle, "ada@example.com") is None


def test_a_failing_store_costs_the_sign_in_not_the_sign_up(clock: Clock) -> None:
    class Failing:
        def put(self, key: str, value: bytes, seconds: int) -> None:
            raise errors.StorageUnavailable()

        def take(self, key: str) -> bytes | None:
            raise errors.StorageUnavailable()

    sign_ins = SignIns(Failing(), key=KEY, window=timedelta(minutes=3), clock=clock)

    handle = sign_ins.begin("ada@example.com", Secret(SESSION))

    sign_ins.check(handle)
    assert sign_ins.take(handle, "ada@example.com") is None
