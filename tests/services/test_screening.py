"""Sign-up hygiene: breached passwords, email domain rules, one budget per mailbox, and every rule
in enforce, shadow or off mode, through the real app against the Cognito double, a local range
server speaking the Pwned Passwords format, and the records on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from app.schemas import HONEYPOT_FIELD
from tests.conftest import signup_body
from tests.support import databases
from tests.support.pwned_range import sha1_hex
from tests.telemetry.test_metrics import Meter

BREACHED = "Password1!"  # in the range server's corpus
EXISTING = "taken@example.com"


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


def records(url: str) -> list[dict[str, object]]:
    return databases.rows(url, "signup_records")


def rules_of(record: dict[str, object]) -> list[str]:
    return str(record["shadowed_rules"] or "").split(",") if record["shadowed_rules"] else []


@pytest.fixture
def hygiene(make_app):
    """A client for an app with these rule settings (SIGNUP_RULE_<RULE>=mode and the rest)."""

    def build(**config: str):
        return make_app(**config).test_client()

    return build


# Breached passwords


def test_a_breached_password_is_a_422_on_the_password_before_cognito(
    hygiene, cognito, pwned_range, database_url
):
    client = hygiene()
    meter = Meter(client, "signup_rule_trips_total", rule="breached_password", mode="enforce")

    response = client.post("/register", json=signup_body(password=BREACHED))

    assert response.status_code == 422
    assert response.json["code"] == "breached_password"
    assert list(response.json["fields"]) == ["password"]
    assert cognito.received == []
    assert meter.increase() == 1
    [record] = records(database_url)
    assert (record["outcome"], record["refused_by"]) == ("refused", "breached_password")
    assert record["error_code"] == "breached_password"
    assert record["user_sub"] is None


def test_only_five_characters_of_the_hash_leave_the_service(hygiene, cognito, pwned_range):
    hygiene().post("/register", json=signup_body(password=BREACHED))

    [request] = pwned_range.received
    prefix = request["path"].rsplit("/", 1)[-1]
    assert len(prefix) == 5
    assert request["headers"].get("Add-Padding") == "true"
    sent = repr(request)
    assert BREACHED not in sent
    assert sha1_hex(BREACHED)[5:] not in sent.upper()


def test_a_refused_password_spends_no_identity_budget(hygiene, cognito, pwned_range):
    client = hygiene(SIGNUP_RATE_LIMIT_PER_IDENTITY="1/hour")
    for _ in range(3):
        assert client.post("/register", json=signup_body(password=BREACHED)).status_code == 422

    assert client.post("/register", json=signup_body()).status_code == 201


def test_a_password_seen_fewer_times_than_the_threshold_is_accepted(hygiene, cognito, pwned_range):
    pwned_range.add("Seen-twice-0nly", 2)
    lenient = hygiene(SIGNUP_BREACHED_PASSWORD_MIN_COUNT="3")
    strict = hygiene()

    assert (
        lenient.post("/register", json=signup_body(password="Seen-twice-0nly")).status_code == 201
    )
    refused = strict.post(
        "/register", json=signup_body(email="b@example.com", password="Seen-twice-0nly")
    )
    assert refused.json["code"] == "breached_password"


def test_passwordless_sign_ups_are_not_checked(hygiene, cognito, pwned_range):
    client = hygiene(SIGNUP_PASSWORDLESS="true")

    response = client.post("/register", json={"email": "ada@example.com"})

    assert response.status_code == 201
    assert pwned_range.received == []


def test_an_unavailable_range_api_lets_sign_ups_through_by_default_and_counts_it(
    hygiene, cognito, pwned_range
):
    pwned_range.outage = "http-500"
    client = hygiene()
    meter = Meter(client, "signup_breached_password_checks_total", outcome="unavailable")

    response = client.post("/register", json=signup_body(password=BREACHED))

    assert response.status_code == 201
    assert meter.increase() == 1


def test_fail_closed_answers_a_quick_503_when_the_range_api_stalls(hygiene, cognito, pwned_range):
    pwned_range.outage = "stall"
    client = hygiene(
        SIGNUP_BREACHED_PASSWORD_ON_OUTAGE="closed", SIGNUP_BREACHED_PASSWORD_TIMEOUT_SECONDS="0.3"
    )

    started = time.monotonic()
    response = client.post("/register", json=signup_body())

    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.json["code"] == "password_check_unavailable"
    assert "Retry-After" in response.headers
    assert cognito.received == []


def test_the_breached_password_rule_in_shadow_mode_signs_up_and_keeps_the_trip(
    hygiene, cognito, pwned_range, database_url
):
    client = hygiene(SIGNUP_RULE_BREACHED_PASSWORD="shadow")
    meter = Meter(client, "signup_rule_trips_total", rule="breached_password", mode="shadow")

    response = client.post("/register", json=signup_body(password=BREACHED))

    assert response.status_code == 201
    assert len(cognito.calls("SignUp")) == 1
    assert meter.increase() == 1
    [record] = records(database_url)
    assert record["outcome"] == "created"
    assert rules_of(record) == ["breached_password"]


def test_the_breached_password_rule_off_asks_nobody(hygiene, cognito, pwned_range):
    response = hygiene(SIGNUP_RULE_BREACHED_PASSWORD="off").post(
        "/register", json=signup_body(password=BREACHED)
    )

    assert response.status_code == 201
    assert pwned_range.received == []


# Email domain rules


DENIED, ALLOWED = "SIGNUP_EMAIL_DOMAINS_DENIED", "SIGNUP_EMAIL_DOMAINS_ALLOWED"
DISPOSABLE = {"SIGNUP_RULE_DISPOSABLE_EMAIL": "enforce"}


@pytest.mark.parametrize(
    ("config", "email", "code"),
    [
        (DISPOSABLE, "ada@mailinator.com", "disposable_email"),
        (DISPOSABLE, "ada@mx.mailinator.com", "disposable_email"),
        ({DENIED: "rival.example"}, "ada@eu.rival.example", "email_domain_denied"),
        ({ALLOWED: "corp.example"}, "ada@example.com", "email_domain_not_allowed"),
        ({ALLOWED: "corp.example"}, "ada@notcorp.example", "email_domain_not_allowed"),
        ({"SIGNUP_RULE_EMAIL_SUBADDRESS": "enforce"}, "ada+news@example.com", "email_subaddress"),
        # An internationalised domain matches whichever way either side spells it.
        ({DENIED: "bücher.example"}, "ada@xn--bcher-kva.example", "email_domain_denied"),
        ({DENIED: "xn--bcher-kva.example"}, "ada@BÜCHER.example", "email_domain_denied"),
    ],
)
def test_each_email_rule_is_a_422_on_the_email_with_its_own_code(
    hygiene, cognito, config, email, code
):
    response = hygiene(**config).post("/register", json=signup_body(email=email))

    assert response.status_code == 422
    assert response.json["code"] == code
    assert list(response.json["fields"]) == ["email"]
    assert cognito.received == []


@pytest.mark.parametrize(
    ("config", "email"),
    [
        ({ALLOWED: "corp.example"}, "ada@eu.corp.example"),
        ({DENIED: "rival.example"}, "ada@notrival.example"),
        ({**DISPOSABLE, ALLOWED: "mailinator.com"}, "ada@mailinator.com"),  # the operator's wins
        ({}, "ada+news@example.com"),  # sub-addresses are accepted by default
    ],
)
def test_addresses_the_rules_do_not_cover_sign_up(hygiene, cognito, config, email):
    response = hygiene(**config).post("/register", json=signup_body(email=email))

    assert response.status_code == 201
    assert cognito.calls("SignUp")[0].params["Username"] == email


def test_an_email_rule_answers_alike_for_an_existing_and_a_new_account(hygiene, cognito):
    assert hygiene().post("/register", json=signup_body(email=EXISTING)).status_code == 201
    client = hygiene(SIGNUP_EMAIL_DOMAINS_DENIED="example.com")

    existing = client.post("/register", json=signup_body(email=EXISTING))
    new = client.post("/register", json=signup_body(email="nobody@example.com"))

    assert existing.status_code == new.status_code == 422
    assert existing.json == new.json


def test_an_email_username_is_checked_under_its_own_field(hygiene, cognito):
    client = hygiene(SIGNUP_RULE_DISPOSABLE_EMAIL="enforce")

    response = client.post(
        "/register", json=signup_body(username="ada@mailinator.com", email="ada@example.com")
    )

    assert response.json["code"] == "disposable_email"
    assert list(response.json["fields"]) == ["username"]


def test_disposable_domains_are_counted_in_shadow_mode_by_default(hygiene, cognito, database_url):
    client = hygiene()
    meter = Meter(client, "signup_rule_trips_total", rule="disposable_email", mode="shadow")

    response = client.post("/register", json=signup_body(email="ada@mailinator.com"))

    assert response.status_code == 201
    assert meter.increase() == 1
    assert rules_of(records(database_url)[0]) == ["disposable_email"]


# One person, one budget


def test_three_spellings_of_one_gmail_inbox_share_one_identity_budget(hygiene, cognito):
    client = hygiene(SIGNUP_RATE_LIMIT_PER_IDENTITY="2/hour")
    spellings = ["Ann.Smith+1@gmail.com", "annsmith+2@gmail.com", "ANNSMITH@gmail.com"]

    answers = [client.post("/register", json=signup_body(email=email)) for email in spellings]

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert answers[2].json["code"] == "rate_limited"
    # Cognito is sent what the person typed.
    assert [call.params["Username"] for call in cognito.calls("SignUp")] == spellings[:2]


def test_the_records_link_every_spelling_to_one_identity(hygiene, cognito, database_url):
    client = hygiene()
    client.post("/register", json=signup_body(email="Ann.Smith@gmail.com"))
    client.post("/register", json=signup_body(email="annsmith+promo@googlemail.com"))

    hashes = {record["identity_hash"] for record in records(database_url)}
    assert len(hashes) == 1
    assert "annsmith" not in str(records(database_url)).lower()


def test_the_identity_budget_in_shadow_mode_lets_through_and_keeps_the_trip(
    hygiene, cognito, database_url
):
    client = hygiene(SIGNUP_RATE_LIMIT_PER_IDENTITY="1/hour", SIGNUP_RULE_IDENTITY_BUDGET="shadow")

    codes = [client.post("/register", json=signup_body()).status_code for _ in range(3)]

    assert codes == [201, 201, 201]
    assert [rules_of(record) for record in records(database_url)] == [
        [],
        ["identity_budget"],
        ["identity_budget"],
    ]


def test_the_identity_budget_off_never_refuses(hygiene, cognito):
    client = hygiene(SIGNUP_RATE_LIMIT_PER_IDENTITY="1/hour", SIGNUP_RULE_IDENTITY_BUDGET="off")

    codes = [client.post("/register", json=signup_body()).status_code for _ in range(3)]

    assert codes == [201, 201, 201]


def test_an_enforced_identity_budget_records_the_refusal(hygiene, cognito, database_url):
    client = hygiene(SIGNUP_RATE_LIMIT_PER_IDENTITY="1/hour")
    client.post("/register", json=signup_body())

    assert client.post("/register", json=signup_body()).status_code == 429

    refused = records(database_url)[-1]
    assert (refused["outcome"], refused["refused_by"]) == ("refused", "identity_budget")


# Honeypot and captcha modes


def test_the_honeypot_in_shadow_mode_lets_the_sign_up_through(hygiene, cognito, database_url):
    client = hygiene(SIGNUP_RULE_HONEYPOT="shadow")

    response = client.post("/register", json=signup_body(**{HONEYPOT_FIELD: "http://spam"}))

    assert response.status_code == 201
    assert len(cognito.calls("SignUp")) == 1
    assert rules_of(records(database_url)[0]) == ["honeypot"]


def test_an_enforced_honeypot_records_the_bot(hygiene, cognito, database_url):
    hygiene().post("/register", json=signup_body(**{HONEYPOT_FIELD: "x"}))

    [record] = records(database_url)
    assert (record["outcome"], record["refused_by"]) == ("refused", "honeypot")
    assert cognito.received == []


def test_the_honeypot_off_is_an_ordinary_field(hygiene, cognito, database_url):
    client = hygiene(SIGNUP_RULE_HONEYPOT="off")

    assert client.post("/register", json=signup_body(**{HONEYPOT_FIELD: "x"})).status_code == 201
    assert records(database_url)[0]["shadowed_rules"] is None


def test_the_captcha_in_shadow_mode_counts_a_missing_token_and_signs_up(hygiene, cognito):
    client = hygiene(
        SIGNUP_CAPTCHA_PROVIDER="turnstile",
        SIGNUP_CAPTCHA_SECRET="0x4AAAAAAA-unused",
        SIGNUP_CAPTCHA_VERIFY_URL="http://127.0.0.1:9/siteverify",
        SIGNUP_RULE_CAPTCHA="shadow",
    )
    meter = Meter(client, "signup_rule_trips_total", rule="captcha", mode="shadow")

    assert client.post("/register", json=signup_body()).status_code == 201
    assert meter.increase() == 1


def test_shadowed_rules_before_an_enforced_one_are_kept_on_the_refusal(
    hygiene, cognito, pwned_range, database_url
):
    client = hygiene(SIGNUP_RULE_EMAIL_SUBADDRESS="shadow")

    response = client.post(
        "/register", json=signup_body(email="a+b@example.com", password=BREACHED)
    )

    assert response.json["code"] == "breached_password"
    [record] = records(database_url)
    assert (record["refused_by"], rules_of(record)) == ("breached_password", ["email_subaddress"])
