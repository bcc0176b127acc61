"""`flask --app wsgi signups report`: the funnel per group, rates with intervals, comparisons
with the control and their verdict, the counts over time, and the page at /admin/report; against
known records on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest

from tests.conftest import signup_body

TOKEN = "report-token-" + "x" * 32


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def settings(settings: dict[str, str]) -> dict[str, str]:
    """Groups of one person are shown: the known records are small."""
    return {**settings, "SIGNUP_REPORT_MIN_GROUP": "1", "SIGNUP_REPORT_MIN_SAMPLE": "3"}


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02}:00:00+00:00")


def add(app, rows: list[dict]) -> None:
    records = app.extensions["signup_records"]
    for index, row in enumerate(rows):
        outcome = row.get("outcome", "created")
        when = row.get("created_at", at("2025-03-01"))
        records.add(
            {
                "identity_hash": row.get("identity", f"{index:064x}"),
                "client_kind": "json",
                "created_at": when,
                "outcome": outcome,
                "confirmed_at": when + timedelta(hours=1) if outcome == "confirmed" else None,
                **{k: v for k, v in row.items() if k not in ("identity", "created_at", "outcome")},
            }
        )


# (created, variant, utm_campaign, outcome)
KNOWN = [
    ("2025-01-15", "A", None, "confirmed"),
    ("2025-03-01", "A", "spring", "confirmed"),
    ("2025-03-02", "A", "spring", "confirmed"),
    ("2025-03-03", "A", None, "created"),
    ("2025-03-03", "A", None, "failed"),  # started, but no user was created
    ("2025-03-04", "A", None, "pending"),  # started, outcome never recorded
    ("2025-03-02", "B", "summer", "confirmed"),
    ("2025-03-05", "B", "summer", "created"),
    ("2025-03-06", None, None, "created"),
]


@pytest.fixture
def known_records(app):
    add(
        app,
        [
            {
                "created_at": at(day),
                "variant": variant,
                "utm_campaign": campaign,
                "outcome": outcome,
            }
            for day, variant, campaign, outcome in KNOWN
        ],
    )


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["signups", "report", *args])


def report(app, *args: str) -> dict:
    result = run(app, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def funnels(built: dict) -> dict:
    return {group["group"]: group.get("funnel") for group in built["groups"]}


def test_every_step_of_the_funnel_is_counted_per_variant(app, known_records):
    assert funnels(report(app)) == {
        "A": {"started": 6, "registered": 4, "confirmed": 3, "signed_in": 0},
        "B": {"started": 2, "registered": 2, "confirmed": 1, "signed_in": 0},
        None: {"started": 1, "registered": 1, "confirmed": 0, "signed_in": 0},
    }


def test_since_and_until_bound_the_window(app, known_records):
    built = report(app, "--since", "2025-03-02", "--until", "2025-03-05T00:00:00Z")

    assert funnels(built) == {
        "A": {"started": 4, "registered": 2, "confirmed": 1, "signed_in": 0},
        "B": {"started": 1, "registered": 1, "confirmed": 1, "signed_in": 0},
    }
    assert (built["since"], built["until"]) == (
        "2025-03-02T00:00:00+00:00",
        "2025-03-05T00:00:00+00:00",
    )


def test_the_report_can_group_by_campaign(app, known_records):
    built = report(app, "--by", "utm_campaign")

    assert built["by"] == "utm_campaign"
    assert [group["group"] for group in built["groups"]] == ["spring", "summer", None]


def test_a_person_who_tried_twice_is_one_person(app):
    twice = "a" * 64
    add(
        app,
        [
            {"identity": twice, "variant": "A", "outcome": "failed"},
            {
                "identity": twice,
                "variant": "A",
                "outcome": "confirmed",
                "signed_in_at": at("2025-03-01", 12),
            },
        ],
    )

    assert funnels(report(app))["A"] == {
        "started": 1,
        "registered": 1,
        "confirmed": 1,
        "signed_in": 1,
    }


def test_each_rate_has_a_wilson_interval(app, known_records):
    [a] = [group for group in report(app)["groups"] if group["group"] == "A"]

    # 3 confirmed of 4 registered: 75 %, Wilson 95 % interval 30.1 %-95.4 %.
    assert a["conversion"] == {"rate": 0.75, "low": 0.3006, "high": 0.9544}
    assert a["steps"]["registered"]["rate"] == round(4 / 6, 4)
    assert a["steps"]["signed_in"] == {"rate": 0.0, "low": 0.0, "high": 0.5615}


def test_each_variant_is_compared_with_the_first_by_default(app, known_records):
    built = report(app)

    assert built["control"] == "A"
    assert [(c["group"], c["control"]) for c in built["comparisons"]] == [("B", "A"), (None, "A")]
    b = built["comparisons"][0]
    assert (b["rate"], b["control_rate"], b["difference"]) == (0.5, 0.75, -0.25)
    assert b["verdict"] == "too_early"  # 2 registered in B, 3 needed
    assert "Too early" in b["summary"]


def test_the_control_can_be_chosen(app, known_records):
    built = report(app, "--control", "B")

    assert built["control"] == "B"
    assert [c["group"] for c in built["comparisons"]] == ["A", None]


def test_a_winner_is_called_only_with_enough_people_and_a_real_difference(make_app):
    app = make_app(SIGNUP_REPORT_MIN_SAMPLE="50")
    rows = []
    for variant, registered, confirmed in (("A", 100, 25), ("B", 100, 60), ("C", 40, 39)):
        rows += [
            {"variant": variant, "outcome": "confirmed" if n < confirmed else "created"}
            for n in range(registered)
        ]
    add(app, [{**row, "identity": f"{index:064x}"} for index, row in enumerate(rows)])

    verdicts = {c["group"]: c["verdict"] for c in report(app)["comparisons"]}

    assert verdicts == {"B": "better", "C": "too_early"}


def test_bot_flagged_attempts_are_left_out_unless_asked_for(app):
    add(
        app,
        [
            {"variant": "A", "outcome": "confirmed"},
            {"variant": "A", "outcome": "created", "shadowed_rules": "disposable_email"},
            {"variant": "A", "outcome": "refused", "refused_by": "honeypot"},
        ],
    )

    assert funnels(report(app))["A"] == {
        "started": 1,
        "registered": 1,
        "confirmed": 1,
        "signed_in": 0,
    }
    with_them = report(app, "--include-flagged")
    assert funnels(with_them)["A"] == {
        "started": 3,
        "registered": 2,
        "confirmed": 1,
        "signed_in": 0,
    }
    # The trips themselves are counted either way.
    [a] = with_them["groups"]
    assert (a["refused"], a["shadowed"]) == ({"honeypot": 1}, {"disposable_email": 1})


def test_a_group_with_too_few_people_shows_no_counts_anywhere(make_app):
    app = make_app(SIGNUP_REPORT_MIN_GROUP="3")
    add(app, [{"variant": "A"}, {"variant": "A"}, {"variant": "A"}, {"variant": "rare"}])

    built = report(app)

    assert {"group": "rare", "too_few": True} in built["groups"]
    assert "rare" not in json.dumps(built["comparisons"])
    assert "rare" not in json.dumps(built["series"])
    table = run(app).output
    assert "too few (under 3)" in table


def test_the_counts_over_time_come_per_day_or_per_hour(app):
    add(
        app,
        [
            {"variant": "A", "created_at": at("2025-03-01", 9)},
            {"variant": "A", "created_at": at("2025-03-01", 17)},
            {"variant": "B", "created_at": at("2025-03-02", 9)},
        ],
    )

    daily = report(app)["series"]
    hourly = report(app, "--every", "hour")["series"]

    assert [(p["bucket"], p["group"], p["registered"]) for p in daily["points"]] == [
        ("2025-03-01", "A", 2),
        ("2025-03-02", "B", 1),
    ]
    assert [p["bucket"] for p in hourly["points"]] == [
        "2025-03-01T09",
        "2025-03-01T17",
        "2025-03-02T09",
    ]


def test_the_table_shows_the_same_figures(app, known_records):
    output = run(app).output
    lines = [line.split() for line in output.splitlines()]

    assert lines[0][:6] == ["variant", "started", "registered", "confirmed", "signed", "in"]
    assert lines[1][:7] == ["A", "6", "4", "3", "0", "75.0%", "30.1%-95.4%"]
    assert any("Too early" in line for line in output.splitlines())
    assert "Registered per day:" in output


def test_the_html_page_is_written_with_the_same_report(app, known_records, tmp_path):
    page = tmp_path / "report.html"

    result = run(app, "--html", str(page))

    assert result.exit_code == 0
    text = page.read_text()
    assert text.startswith("<!doctype html>")
    assert 'data-figure="A.funnel.started"' in text


def test_an_empty_window_says_so(app, known_records):
    assert run(app, "--since", "2030-01-01").output.strip() == "No sign-ups in this window."


@pytest.mark.parametrize(
    "args",
    [["--by", "email"], ["--since", "yesterday"], ["--until", "2025-13-01"], ["--every", "week"]],
)
def test_bad_report_options_are_usage_errors(app, args):
    assert run(app, *args).exit_code == 2


def test_the_report_reflects_signups_made_over_http(client, cognito, app):
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

    assert funnels(report(app)) == {
        "A": {"started": 2, "registered": 2, "confirmed": 1, "signed_in": 0},
        "B": {"started": 1, "registered": 1, "confirmed": 0, "signed_in": 0},
    }


# The admin page


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()


def test_without_a_token_setting_there_is_no_admin_page(client):
    assert (
        client.get("/admin/report", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    )


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}", basic(TOKEN)])
def test_the_token_holder_gets_the_report_page(make_app, authorization):
    app = make_app(SIGNUP_REPORT_TOKEN=TOKEN)
    add(app, [{"variant": "A"}])

    response = app.test_client().get(
        "/admin/report?every=hour", headers={"Authorization": authorization}
    )

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert 'data-figure="A.funnel.started"' in response.get_data(as_text=True)
    assert "style-src 'sha256-" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": basic("wrong")},
        {"Authorization": "Basic !!"},
    ],
)
def test_anyone_else_is_asked_for_the_token(make_app, caplog, headers):
    client = make_app(SIGNUP_REPORT_TOKEN=TOKEN).test_client()

    response = client.get("/admin/report", headers=headers)

    assert response.status_code == 401
    assert response.json["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert TOKEN not in caplog.text


def test_a_bad_admin_option_names_it(make_app):
    client = make_app(SIGNUP_REPORT_TOKEN=TOKEN).test_client()

    response = client.get("/admin/report?by=email", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 422
    assert list(response.json["fields"]) == ["by"]


def test_a_short_token_stops_the_start(make_app):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="SIGNUP_REPORT_TOKEN"):
        make_app(SIGNUP_REPORT_TOKEN="short")
