"""Cognito failing, through gunicorn as `make run` serves it: answering 5xx, throttling, stalling
past COGNITO_TIMEOUT_SECONDS, refusing connections.

For each: the answer (status, code, Retry-After), how long it took (the timeout plus a little at
most), what the records and the double hold afterwards (nothing lost, nothing twice), and that
the next sign-up succeeds without a restart. Cognito is the strict double behind a TCP proxy of
our own, so it can be made to refuse connections and come back on the same address.
"""

from __future__ import annotations

import pytest

from tests.conftest import GENEROUS_LIMITS
from tests.support import databases
from tests.support.faults import SLACK_SECONDS, TcpProxy, call, new_email, sign_up, wait_until
from tests.support.servers import Gunicorn, clean_environment

TIMEOUT_SECONDS = 1.0


@pytest.fixture(scope="module")
def cognito_proxy(cognito_server):
    with TcpProxy(int(cognito_server.endpoint_url.rsplit(":", 1)[1])) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def served(cognito_server, cognito_proxy, tmp_path_factory):
    settings = {
        **cognito_server.settings(),
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": f"http://{cognito_proxy.url_host}",
        "COGNITO_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        **GENEROUS_LIMITS,
    }
    with Gunicorn(clean_environment(**settings), tmp_path_factory.mktemp("cognito")) as server:
        yield server


@pytest.fixture
def proxy(cognito_proxy):
    cognito_proxy.restore()
    yield cognito_proxy
    cognito_proxy.restore()


def records(server: Gunicorn) -> list[dict[str, object]]:
    return databases.rows(f"sqlite:///{server.stdout.parent / 'signups.db'}", "signup_records")


def assert_recovers(server: Gunicorn) -> None:
    email = new_email()
    answer = sign_up(server.base, email)
    assert answer.status == 201, answer.body
    assert records(server)[-1]["outcome"] == "created"


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (
            500,
            b'{"__type": "InternalErrorException", "message": "oops"}',
            "application/x-amz-json-1.1",
        ),
        (502, b"<html><body>Bad Gateway</body></html>", "text/html"),
        (503, b"<html><body>Service Unavailable</body></html>", "text/html"),
        (504, b"", "text/plain"),
    ],
)
def test_a_cognito_5xx_is_a_quick_502_recorded_as_failed(
    served, cognito, status, body, content_type
):
    cognito.respond_raw_next("SignUp", status, body, content_type)

    answer = sign_up(served.base)

    assert (answer.status, answer.body["code"]) == (502, "upstream_error")
    assert answer.seconds < SLACK_SECONDS
    assert len(cognito.calls("SignUp")) == 1  # not retried into a second call
    assert records(served)[-1]["outcome"] == "failed"
    assert_recovers(served)


@pytest.mark.parametrize(
    ("error_code", "code", "retry_after"),
    [
        ("TooManyRequestsException", "upstream_throttled", "1"),
        ("LimitExceededException", "code_delivery_limited", "60"),
    ],
)
def test_throttling_is_a_503_with_retry_after_and_is_never_retried(
    served, cognito, error_code, code, retry_after
):
    cognito.fail_next("SignUp", error_code, "Rate exceeded")

    answer = sign_up(served.base)

    assert (answer.status, answer.body["code"]) == (503, code)
    assert answer.headers["retry-after"] == retry_after
    assert answer.seconds < SLACK_SECONDS
    assert len(cognito.calls("SignUp")) == 1
    assert_recovers(served)


def test_a_stalled_cognito_is_a_504_after_the_timeout(served, cognito):
    cognito.delay_seconds = TIMEOUT_SECONDS * 3

    answer = sign_up(served.base)

    assert (answer.status, answer.body["code"]) == (504, "upstream_timeout")
    assert TIMEOUT_SECONDS <= answer.seconds < TIMEOUT_SECONDS + SLACK_SECONDS
    cognito.delay_seconds = 0
    assert_recovers(served)


def test_after_a_timeout_a_retry_creates_no_second_user(served, cognito):
    # The double, like Cognito, may create the user and then be too slow to say so.
    email = new_email()
    cognito.delay_seconds = TIMEOUT_SECONDS * 2
    first = sign_up(served.base, email)
    cognito.delay_seconds = 0

    retry = sign_up(served.base, email)

    assert first.status == 504
    assert retry.status == 201  # existing accounts are hidden: the retry looks like a sign-up
    assert len(cognito.calls("SignUp")) == 2
    cognito.sub_for(email)  # exactly one user under that name, created by the first call
    assert [r["error_code"] for r in records(served)[-2:]] == [
        "upstream_timeout",
        "username_exists",
    ]


def test_a_refused_connection_is_a_quick_503_with_retry_after(served, cognito, proxy):
    proxy.cut()

    answer = sign_up(served.base)

    assert (answer.status, answer.body["code"]) == (503, "upstream_unavailable")
    assert answer.headers["retry-after"] == "1"
    assert answer.seconds < SLACK_SECONDS
    assert cognito.calls("SignUp") == []
    assert records(served)[-1]["error_code"] == "upstream_unavailable"


def test_when_cognito_comes_back_sign_ups_work_without_a_restart(served, cognito, proxy):
    sign_up(served.base)  # a pooled connection to Cognito, then it goes away
    proxy.cut()
    sign_up(served.base)

    proxy.restore()

    assert_recovers(served)


def test_a_connection_that_accepts_and_never_answers_is_a_504(served, cognito, proxy):
    proxy.stall()

    answer = sign_up(served.base)

    assert (answer.status, answer.body["code"]) == (504, "upstream_timeout")
    assert answer.seconds < TIMEOUT_SECONDS + SLACK_SECONDS
    proxy.restore()
    assert_recovers(served)


def test_readiness_follows_cognito_going_away_and_coming_back(served, cognito, proxy):
    proxy.cut()
    gone = call(f"{served.base}/readyz")
    proxy.restore()

    assert (gone.status, gone.body["checks"]["cognito"]) == (503, "failed")
    # A failed check is cached briefly; the probe recovers on its own.
    wait_until(lambda: call(f"{served.base}/readyz").status == 200, timeout=15)
