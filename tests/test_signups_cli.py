"""`flask --app wsgi signups report` and `signups purge` against known records, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import signup_body
from tests.support import databases


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00+00:00")


# (created, variant, utm_campaign, outcome)
KNOWN = [
    ("2025-01-15", "A", None, "confirmed"),
    ("2025-03-01", "A", "spring", "confirmed"),
    ("2025-03-02", "A", "spring", "confirmed"),
    ("2025-03-03", "A", None, "created"),
    ("2025-03-03", "A", None, "failed"),  # no user was created: not a sign-up
    ("2025-03-04", "A", None, "pending"),  # outcome never recorded: not counted
    ("2025-03-02", "B", "summer", "confirmed"),
    ("2025-03-05", "B", "summer", "created"),
    ("2025-03-06", None, None, "created"),
]


@pytest.fixture
def known_records(app):
    records = app.extensions["signup_records"]
    for index, (day, variant, campaign, outcome) in enumerate(KNOWN):
        records.add(
            {
                "created_at": at(day),
                "confirmed_at": at(day) + timedelta(hours=1) if outcome == "confirmed" else None,
                "identity_hash": f"{index:064x}",
                "outcome": outcome,
                "client_kind": "json",
                "variant": variant,
                "utm_campaign": campaign,
            }
        )


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["signups", *args])


def report(app, *args: str) -> list[dict]:
    result = run(app, "report", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def figures(app, *args: str) -> list[dict]:
    """The report's group and base figures, for tests about something other than rules."""
    return [
        {key: value for key, value in row.items() if key not in TRIPS} for row in report(app, *args)
    ]


TRIPS = ("clean_signups", "clean_confirmed", "clean_conversion", "refused", "shadowed")


def test_the_report_counts_signups_and_confirmations_per_variant(app, known_records):
    assert figures(app, "--by", "variant") == [
        {"variant": "A", "signups": 4, "confirmed": 3, "conversion": 0.75},
        {"variant": "B", "signups": 2, "confirmed": 1, "conversion": 0.5},
        {"variant": None, "signups": 1, "confirmed": 0, "conversion": 0.0},
    ]


def test_since_leaves_out_earlier_signups(app, known_records):
    rows = figures(app, "--by", "variant", "--since", "2025-03-01")

    assert rows[0] == {"variant": "A", "signups": 3, "confirmed": 2, "conversion": 0.6667}


def test_since_and_until_bound_the_window(app, known_records):
    assert figures(app, "--since", "2025-03-02", "--until", "2025-03-05T00:00:00Z") == [
        {"variant": "A", "signups": 2, "confirmed": 1, "conversion": 0.5},
        {"variant": "B", "signups": 1, "confirmed": 1, "conversion": 1.0},
    ]


def test_the_report_can_group_by_campaign(app, known_records):
    assert figures(app, "--by", "utm_campaign") == [
        {"utm_campaign": "spring", "signups": 2, "confirmed": 2, "conversion": 1.0},
        {"utm_campaign": "summer", "signups": 2, "confirmed": 1, "conversion": 0.5},
        {"utm_campaign": None, "signups": 3, "confirmed": 1, "conversion": 0.3333},
    ]


def test_the_table_shows_one_line_per_variant_with_a_percentage(app, known_records):
    result = run(app, "report", "--by", "variant")

    lines = [line.split("  ") for line in result.output.splitlines()]
    assert [[cell.strip() for cell in line if cell.strip()] for line in lines[:4]] == [
        ["variant", "signups", "confirmed", "conversion", "clean", "clean conversion"],
        ["A", "4", "3", "75.0%", "4", "75.0%"],
        ["B", "2", "1", "50.0%", "2", "50.0%"],
        ["(none)", "1", "0", "0.0%", "1", "0.0%"],
    ]


# (variant, outcome, refused_by, shadowed_rules)
TRIPPED = [
    ("A", "confirmed", None, None),
    ("A", "created", None, "disposable_email"),
    ("A", "confirmed", None, "disposable_email,identity_budget"),
    ("A", "refused", "breached_password", None),
    ("A", "refused", "honeypot", "disposable_email"),
    ("B", "created", None, None),
    ("B", "refused", "breached_password", None),
]


@pytest.fixture
def tripped_records(app):
    records = app.extensions["signup_records"]
    for index, (variant, outcome, refused_by, shadowed) in enumerate(TRIPPED):
        records.add(
            {
                "created_at": at("2025-04-01"),
                "identity_hash": f"{index:064x}",
                "outcome": outcome,
                "client_kind": "form",
                "variant": variant,
                "refused_by": refused_by,
                "shadowed_rules": shadowed,
            }
        )


def test_the_report_counts_each_rule_refused_and_shadowed_and_converts_without_them(
    app, tripped_records
):
    assert report(app) == [
        {
            "variant": "A",
            "signups": 3,
            "confirmed": 2,
            "conversion": 0.6667,
            "clean_signups": 1,
            "clean_confirmed": 1,
            "clean_conversion": 1.0,
            "refused": {"breached_password": 1, "honeypot": 1},
            "shadowed": {"disposable_email": 3, "identity_budget": 1},
        },
        {
            "variant": "B",
            "signups": 1,
            "confirmed": 0,
            "conversion": 0.0,
            "clean_signups": 1,
            "clean_confirmed": 0,
            "clean_conversion": 0.0,
            "refused": {"breached_password": 1},
            "shadowed": {},
        },
    ]


def test_the_table_has_a_column_per_rule_tripped_with_refused_and_shadowed(app, tripped_records):
    result = run(app, "report")

    rows = [
        [cell.strip() for cell in line.split("  ") if cell.strip()]
        for line in result.output.splitlines()
    ]
    assert rows[0][-4:] == ["honeypot", "disposable_email", "breached_password", "identity_budget"]
    assert rows[1] == ["A", "3", "2", "66.7%", "1", "100.0%", "1/0", "0/3", "1/0", "0/1"]
    assert rows[2] == ["B", "1", "0", "0.0%", "1", "0.0%", "0/0", "0/0", "1/0", "0/0"]
    assert "Rule columns: attempts refused/attempts shadowed." in result.output


def test_an_empty_window_says_so(app, known_records):
    result = run(app, "report", "--since", "2030-01-01")

    assert result.output.strip() == "No sign-ups in this window."


@pytest.mark.parametrize(
    "args", [["--by", "email"], ["--since", "yesterday"], ["--until", "2025-13-01"]]
)
def test_bad_report_options_are_usage_errors(app, args):
    result = run(app, "report", *args)

    assert result.exit_code == 2


def test_the_report_reflects_signups_and_confirmations_made_over_http(client, cognito, app):
    for email, variant in [
        ("ada@example.com", "A"),
        ("grace@example.com", "A"),
        ("alan@example.com", "B"),
    ]:
        client.post("/register", json=signup_body(email=email, variant=variant))
    client.post(
        "/register/confirm",
        json={"username": "ada@example.com", "code": cognito.code_for("ada@example.com")},
    )

    assert figures(app) == [
        {"variant": "A", "signups": 2, "confirmed": 1, "conversion": 0.5},
        {"variant": "B", "signups": 1, "confirmed": 0, "conversion": 0.0},
    ]


@pytest.fixture
def aged_data(app):
    """Records made 100, 89 and 1 days ago; one expired and one live idempotency key."""
    now = datetime.now(UTC)
    records = app.extensions["signup_records"]
    for days in (100, 89, 1):
        records.add(
            {
                "created_at": now - timedelta(days=days),
                "identity_hash": f"{days:064x}",
                "outcome": "created",
                "client_kind": "json",
            }
        )
    keys = app.extensions["idempotency_keys"]
    keys.claim("expired", "0" * 64, now - timedelta(days=2), now - timedelta(days=1))
    keys.claim("live", "0" * 64, now, now + timedelta(hours=1))


def ages_left(database_url: str) -> list[int]:
    """Age in days of each record left; SQLite hands back naive UTC."""
    now = datetime.now(UTC)
    created = [row["created_at"] for row in databases.rows(database_url, "signup_records")]
    return [(now - (when if when.tzinfo else when.replace(tzinfo=UTC))).days for when in created]


def test_purge_deletes_records_past_the_default_90_days(app, aged_data, database_url):
    result = run(app, "purge")

    assert result.exit_code == 0
    assert ages_left(database_url) == [89, 1]
    assert "Deleted 1 signup records" in result.output


def test_purge_takes_the_retention_from_the_command_line(app, aged_data, database_url):
    run(app, "purge", "--older-than", "2d")

    assert ages_left(database_url) == [1]


def test_purge_takes_the_default_retention_from_the_setting(make_app, aged_data, database_url):
    run(make_app(SIGNUP_RECORD_RETENTION="30d"), "purge")

    assert ages_left(database_url) == [1]


def test_purge_deletes_expired_idempotency_keys_only(app, aged_data, database_url):
    result = run(app, "purge")

    assert [row["key"] for row in databases.rows(database_url, "idempotency_keys")] == ["live"]
    assert "1 expired idempotency keys" in result.output


@pytest.mark.parametrize("value", ["soon", "0d", "-5d", "3w"])
def test_a_bad_retention_is_a_usage_error(app, aged_data, database_url, value):
    result = run(app, "purge", "--older-than", value)

    assert result.exit_code == 2
    assert len(ages_left(database_url)) == 3
