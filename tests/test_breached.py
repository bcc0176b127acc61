"""Breached-password checks against a local range API speaking the real format over HTTP."""

import functools
import itertools
import logging
import time
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from app.breached import BreachedPasswords, Exposure
from app.config import BreachedPasswordSettings
from tests.support.pwned_range import PADDED_LINES, PwnedRangeServer, sha1_hex
from tests.support.servers import free_port

UNSEEN = "Unseen-correct-h0rse-battery"
TTL = timedelta(minutes=10)


@pytest.fixture(scope="module")
def pwned_server():
    with PwnedRangeServer() as server:
        yield server


@pytest.fixture
def pwned(pwned_server):
    pwned_server.reset()
    return pwned_server


class Clock:
    """A timer for the cache that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make_checker(pwned, clock):
    """Builds checkers against the local server, plus overrides; closes their connections."""
    built = []

    def build(**overrides):
        settings = BreachedPasswordSettings(
            **{"range_url": pwned.url, "timeout_seconds": 2.0, "cache_ttl": TTL, **overrides}
        )
        built.append(BreachedPasswords(settings, timer=clock))
        return built[-1]

    yield build
    for checker in built:
        checker.close()


@pytest.fixture
def checker(make_checker):
    return make_checker()


@functools.cache
def two_passwords_sharing_a_prefix():
    """Two passwords whose hashes start with the same 5 characters (a birthday search)."""
    seen = {}
    for number in itertools.count():
        password = f"Shared-prefix-{number}"
        prefix = sha1_hex(password)[:5]
        if prefix in seen:
            return seen[prefix], password
        seen[prefix] = password


@pytest.mark.parametrize("password", ["Password1!", "password", "Rarely-seen-7"])
def test_a_password_in_the_corpus_is_breached(checker, password):
    assert checker.check(password) is Exposure.BREACHED


def test_a_password_not_in_the_corpus_passes(checker):
    assert checker.check(UNSEEN) is Exposure.PASSED


@pytest.mark.parametrize(("min_count", "exposure"), [(2, Exposure.BREACHED), (3, Exposure.PASSED)])
def test_a_password_seen_fewer_than_min_count_times_passes(make_checker, min_count, exposure):
    checker = make_checker(min_count=min_count)

    assert checker.check("Rarely-seen-7") is exposure


def test_the_local_server_pads_its_answers_in_sorted_order(pwned):
    prefix = sha1_hex("password")[:5]
    request = urllib.request.Request(pwned.url + prefix, headers={"Add-Padding": "true"})

    with urllib.request.urlopen(request, timeout=2) as response:
        lines = response.read().decode("ascii").split("\r\n")

    assert PADDED_LINES[0] <= len(lines) <= PADDED_LINES[1]
    suffixes = [line.split(":")[0] for line in lines]
    assert suffixes == sorted(suffixes)
    assert f"{sha1_hex('password')[5:]}:10000000" in lines


@pytest.mark.parametrize("min_count", [1, 0])
def test_a_padding_line_never_matches_even_when_it_is_the_passwords_suffix(
    make_checker, pwned, min_count
):
    # A setting of 0 cannot come from the environment; padding must not match even then.
    pwned.padding_suffixes.add(sha1_hex(UNSEEN)[5:])
    checker = make_checker(min_count=min_count)

    assert checker.check(UNSEEN) is Exposure.PASSED


def test_only_the_uppercase_prefix_leaves_with_padding_asked_for(checker, pwned):
    password = "Password1!"
    digest = sha1_hex(password)

    checker.check(password)

    [request] = pwned.received
    assert request["method"] == "GET"
    assert request["path"] == f"/range/{digest[:5]}"
    assert request["headers"]["Add-Padding"] == "true"
    assert request["headers"]["User-Agent"] == "signup-service"
    sent = repr(request).lower()
    assert password.lower() not in sent
    assert digest[5:].lower() not in sent
    # Not even part of the rest of the hash (the prefix aside).
    assert all(digest[i : i + 8].lower() not in sent for i in range(1, len(digest) - 7))


def test_a_cached_prefix_answers_every_password_under_it_without_asking_again(checker, pwned):
    breached, other = two_passwords_sharing_a_prefix()
    pwned.add(breached, 5)

    assert checker.check(breached) is Exposure.BREACHED
    assert checker.check(other) is Exposure.PASSED
    assert checker.check(breached) is Exposure.BREACHED
    assert len(pwned.received) == 1


def test_a_cached_prefix_is_asked_again_once_it_expires(checker, pwned, clock):
    checker.check("Password1!")

    clock.now += TTL.total_seconds() - 1
    checker.check("Password1!")
    assert len(pwned.received) == 1

    clock.now += 1
    assert checker.check("Password1!") is Exposure.BREACHED
    assert len(pwned.received) == 2


def test_without_a_cache_every_check_asks(make_checker, pwned):
    checker = make_checker(cache_size=0)

    for _ in range(3):
        assert checker.check("Password1!") is Exposure.BREACHED

    assert len(pwned.received) == 3


OUTAGES = ["http-500", "not-text", "stall", "unreachable"]


@pytest.fixture
def outage_checker(make_checker, pwned, request):
    """A checker facing the outage ``request.param``, with a 0.3 s timeout."""
    if request.param == "unreachable":
        return make_checker(range_url=f"http://127.0.0.1:{free_port()}/range/", timeout_seconds=0.3)
    pwned.outage = request.param
    return make_checker(timeout_seconds=0.3)


@pytest.mark.parametrize("outage_checker", OUTAGES, indirect=True)
def test_an_outage_is_unavailable_within_about_a_second(outage_checker):
    started = time.monotonic()

    assert outage_checker.check("Password1!") is Exposure.UNAVAILABLE
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("kind", ["http-500", "not-text", "stall"])
def test_an_outage_is_not_cached(make_checker, pwned, kind):
    checker = make_checker(timeout_seconds=0.3)
    pwned.outage = kind
    checker.check("Password1!")

    pwned.outage = "none"

    assert checker.check("Password1!") is Exposure.BREACHED
    assert len(pwned.received) == 2


def test_an_unreachable_api_is_not_cached(make_checker):
    port = free_port()
    checker = make_checker(range_url=f"http://127.0.0.1:{port}/range/", timeout_seconds=0.3)
    assert checker.check("Password1!") is Exposure.UNAVAILABLE

    with PwnedRangeServer(port) as server:
        assert checker.check("Password1!") is Exposure.BREACHED
        assert len(server.received) == 1


@pytest.mark.parametrize("outage_checker", OUTAGES, indirect=True)
def test_an_outage_logs_a_warning_without_any_part_of_the_hash(outage_checker, caplog):
    password = "Password1!"
    digest = sha1_hex(password)

    with caplog.at_level(logging.WARNING, logger="app.breached"):
        outage_checker.check(password)

    [record] = [record for record in caplog.records if record.name == "app.breached"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    logged = record.getMessage().lower()
    assert password.lower() not in logged
    assert all(digest[i : i + 5].lower() not in logged for i in range(len(digest) - 4))


def test_an_http_error_is_logged_with_its_status(make_checker, pwned, caplog):
    pwned.outage = "http-500"

    with caplog.at_level(logging.WARNING, logger="app.breached"):
        make_checker().check("Password1!")

    assert "HTTP 500" in caplog.text


def checks_counted(outcome):
    value = REGISTRY.get_sample_value("signup_breached_password_checks_total", {"outcome": outcome})
    return value or 0.0


@pytest.mark.parametrize(
    ("password", "outage", "outcome"),
    [
        ("Password1!", "none", "breached"),
        (UNSEEN, "none", "passed"),
        ("Password1!", "http-500", "unavailable"),
    ],
)
def test_every_check_is_counted_by_outcome(make_checker, pwned, password, outage, outcome):
    pwned.outage = outage
    checker = make_checker()
    before = checks_counted(outcome)

    checker.check(password)
    checker.check(password)  # the second from the cache, or asked again after a failure

    assert checks_counted(outcome) == before + 2
