"""The conversion report's HTML page: self-contained, every figure the report's, fits a phone.

The unit tests read the rendered string; the browser tests open it as a file in Debian's
chromium (as tests/api/test_browser.py does) and read what a person would see.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from app.api import report_page

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def funnel(started: int, registered: int, confirmed: int, signed_in: int) -> dict[str, int]:
    return {
        "started": started,
        "registered": registered,
        "confirmed": confirmed,
        "signed_in": signed_in,
    }


def rate(value: float | None, low: float | None, high: float | None) -> dict[str, float | None]:
    return {"rate": value, "low": low, "high": high}


REPORT: dict[str, Any] = {
    "by": "variant",
    "since": "2026-12-01T00:00:00+00:00",
    "until": None,
    "include_flagged": False,
    "min_sample": 100,
    "min_group": 10,
    "control": "A",
    "groups": [
        {
            "group": None,
            "too_few": False,
            "funnel": funnel(40, 31, 12, 9),
            "steps": {
                "registered": rate(0.775, 0.6251, 0.8767),
                "confirmed": rate(0.3871, 0.2365, 0.5623),
                "signed_in": rate(0.75, 0.4677, 0.9111),
            },
            "conversion": rate(0.3871, 0.2365, 0.5623),
            "refused": {},
            "shadowed": {"velocity": 2},
        },
        {
            "group": "A",
            "too_few": False,
            "funnel": funnel(1520, 1203, 961, 870),
            "steps": {
                "registered": rate(0.7914, 0.7702, 0.8113),
                "confirmed": rate(0.7988, 0.7752, 0.8206),
                "signed_in": rate(0.9053, 0.8853, 0.9221),
            },
            "conversion": rate(0.7988, 0.7752, 0.8206),
            "refused": {"breached_password": 14, "disposable_email": 3},
            "shadowed": {"velocity": 40},
        },
        {
            "group": "B",
            "too_few": False,
            "funnel": funnel(1490, 1180, 1002, 931),
            "steps": {
                "registered": rate(0.7919, 0.7706, 0.8118),
                "confirmed": rate(0.8492, 0.8273, 0.8687),
                "signed_in": rate(0.9291, 0.9118, 0.9433),
            },
            "conversion": rate(0.8492, 0.8273, 0.8687),
            "refused": {"disposable_email": 5},
            "shadowed": {},
        },
        {"group": "C", "too_few": True},
    ],
    "comparisons": [
        {
            "group": None,
            "control": "A",
            "rate": 0.3871,
            "control_rate": 0.7988,
            "difference": -0.4117,
            "low": -0.5589,
            "high": -0.2445,
            "p_value": 0.0,
            "verdict": "too_early",
            "summary": (
                "Too early to call: (none) has 31 sign-ups and A 1203; each needs at least 100."
            ),
        },
        {
            "group": "B",
            "control": "A",
            "rate": 0.8492,
            "control_rate": 0.7988,
            "difference": 0.0504,
            "low": 0.0193,
            "high": 0.0812,
            "p_value": 0.0015,
            "verdict": "better",
            "summary": "B converts better than A: +5.0 points (95% CI +1.9 to +8.1), p = 0.0015.",
        },
    ],
    "series": {
        "every": "day",
        "points": [
            {"bucket": "2026-12-01", "group": None, **funnel(15, 11, 4, 3)},
            {"bucket": "2026-12-01", "group": "A", **funnel(700, 560, 450, 400)},
            {"bucket": "2026-12-01", "group": "B", **funnel(690, 540, 460, 430)},
            {"bucket": "2026-12-02", "group": "A", **funnel(820, 643, 511, 470)},
            {"bucket": "2026-12-02", "group": "B", **funnel(800, 640, 542, 501)},
            {"bucket": "2026-12-03", "group": None, **funnel(25, 20, 8, 6)},
        ],
    },
}
# The too-few group's people, were they leaked: none of these may appear as its figures.
TOO_FEW = "C"


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def points(value: float) -> str:
    return f"{'-' if math.copysign(1, value) < 0 else '+'}{abs(value) * 100:.1f}"


def expected_figures(report: dict[str, Any]) -> dict[str, str]:
    """Every number of ``report``, by the data-figure that must show it, formatted for people."""
    figures = {"min_sample": f"{report['min_sample']:,}", "min_group": f"{report['min_group']:,}"}
    for group in report["groups"]:
        if group["too_few"]:
            continue
        key = "(none)" if group["group"] is None else group["group"]
        for step, people in group["funnel"].items():
            figures[f"{key}.funnel.{step}"] = f"{people:,}"
        for step, interval in group["steps"].items():
            for end, value in interval.items():
                figures[f"{key}.steps.{step}.{end}"] = percent(value)
        for end, value in group["conversion"].items():
            figures[f"{key}.conversion.{end}"] = percent(value)
        for trips in ("refused", "shadowed"):
            for rule, times in group[trips].items():
                figures[f"{key}.{trips}.{rule}"] = f"{times:,}"
    for comparison in report["comparisons"]:
        key = "(none)" if comparison["group"] is None else comparison["group"]
        figures[f"{key}.comparison.rate"] = percent(comparison["rate"])
        figures[f"{key}.comparison.control_rate"] = percent(comparison["control_rate"])
        for end in ("difference", "low", "high"):
            figures[f"{key}.comparison.{end}"] = points(comparison[end])
        p = comparison["p_value"]
        figures[f"{key}.comparison.p_value"] = "< 0.0001" if p == 0 else f"{p:.4f}"
    for point in report["series"]["points"]:
        key = "(none)" if point["group"] is None else point["group"]
        for step in ("started", "registered", "confirmed", "signed_in"):
            figures[f"{key}.series.{point['bucket']}.{step}"] = f"{point[step]:,}"
    return figures


class Figures(HTMLParser):
    """The page's data-figure elements (name, text) in order, and its style elements' text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.figures: list[tuple[str, str]] = []
        self.styles: list[str] = []
        self._open: list[tuple[str, str | None, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("meta", "br", "hr", "img", "input", "link"):
            return
        self._open.append((tag, dict(attrs).get("data-figure"), []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <rect/>, <line/>: no text

    def handle_data(self, data: str) -> None:
        for _tag, _figure, text in self._open:
            text.append(data)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            opened, figure, text = self._open.pop()
            if figure is not None:
                self.figures.append((figure, "".join(text).strip()))
            if opened == "style":
                self.styles.append("".join(text))
            if opened == tag:
                return


def read(html: str) -> Figures:
    parser = Figures()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def html() -> str:
    return report_page.render(REPORT)


def test_the_page_asks_for_nothing_from_anywhere(html):
    for needle in ("http://", "https://", "src=", "<script", "<link", "url(", "@import"):
        assert needle not in html.lower(), needle


def test_the_one_style_element_is_style_and_nothing_else_styles(html):
    assert read(html).styles == [report_page.STYLE]
    assert html.count("<style") == 1
    assert re.search(r"\sstyle\s*=", html) is None


def test_the_style_hash_is_that_of_style():
    digest = hashlib.sha256(report_page.STYLE.encode()).digest()
    assert report_page.style_hash() == f"'sha256-{base64.b64encode(digest).decode()}'"


def test_every_number_of_the_report_is_shown_in_its_figure(html):
    shown = read(html).figures
    expected = expected_figures(REPORT)

    assert {name for name, _ in shown} == set(expected)
    assert [(name, text) for name, text in shown if expected[name] != text] == []


def test_a_group_with_too_few_people_shows_no_numbers(html):
    row = re.search(rf"<th scope=\"row\">{TOO_FEW}</th>(.*?)</tr>", html, re.DOTALL)
    assert row is not None
    cells = re.sub(r'<span data-figure="min_group">10</span>', "", row.group(1))
    text = re.sub(r"<[^>]*>", "", cells)
    assert "too few" in text
    assert re.search(r"\d", text) is None
    assert not [name for name, _ in read(html).figures if name.startswith(f"{TOO_FEW}.")]


def test_the_window_grouping_and_flagged_attempts_are_stated(html):
    assert "from <time>2026-12-01T00:00:00+00:00</time> to <time>now</time>" in html
    assert "<dt>Grouped by</dt><dd>variant</dd>" in html
    assert "<dt>Bot-flagged</dt><dd>left out</dd>" in html


def test_all_time_when_there_is_no_window():
    html = report_page.render({**REPORT, "since": None, "until": None})

    assert "all time" in html


@pytest.mark.parametrize("verdict", ["Better", "Too early to call"])
def test_each_comparison_shows_its_verdict_and_summary(html, verdict):
    assert f'<span class="verdict">{verdict}</span>' in html
    for comparison in REPORT["comparisons"]:
        assert comparison["summary"] in html


def test_names_from_the_records_are_escaped():
    hostile = '<img src=x onerror="alert(1)">'
    report = {**REPORT, "groups": [{**REPORT["groups"][1], "group": hostile}], "comparisons": []}
    report["series"] = {"every": "day", "points": []}

    html = report_page.render(report)

    assert "<img" not in html
    assert "&lt;img src=x" in html


def test_a_report_with_no_groups_renders():
    empty = {**REPORT, "control": None, "groups": [], "comparisons": []}
    empty["series"] = {"every": "hour", "points": []}

    html = report_page.render(empty)

    assert "Nothing to compare" in html
    assert "No sign-ups in this window" in html


# In a real headless Chromium


@pytest.fixture
def report_file(html, tmp_path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def opened(browser, report_file: Path, viewport: dict[str, int]):
    """A tab showing the report file; every request other than for the file itself is refused
    and recorded in ``tab.elsewhere``."""
    context = browser.new_context(viewport=viewport)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.elsewhere = []
    url = report_file.as_uri()

    def answer(route):
        if route.request.url == url:
            route.continue_()
        else:
            tab.elsewhere.append(route.request.url)
            route.abort()

    tab.route("**/*", answer)
    tab.goto(url)
    return tab


@pytest.mark.browser
@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_page_shows_every_figure_and_fits(browser, report_file, screenshot, size, viewport):
    page = opened(browser, report_file, viewport)
    try:
        page.locator("details").evaluate("details => { details.open = true; }")
        shown = page.evaluate(
            """() => [...document.querySelectorAll('[data-figure]')]
                .map(el => [el.dataset.figure, el.textContent.trim()])"""
        )
        layout = page.evaluate(
            """() => ({
                width: document.documentElement.scrollWidth,
                charts: [...document.querySelectorAll('svg')]
                    .map(svg => svg.getBoundingClientRect().width),
                styled: getComputedStyle(document.querySelector('main')).maxWidth,
            })"""
        )
        page.screenshot(path=screenshot(f"report-{size}"), full_page=True)
        elsewhere = page.elsewhere
    finally:
        page.context.close()

    expected = expected_figures(REPORT)
    assert elsewhere == []
    assert layout["width"] <= viewport["width"]  # no sideways scrolling
    assert layout["styled"] == "768px"  # the inline style applied
    assert len(layout["charts"]) == 3
    assert min(layout["charts"]) >= min(viewport["width"] - 40, 400)
    assert {name for name, _ in shown} == set(expected)
    assert [(name, text) for name, text in shown if expected[name] != text] == []


@pytest.mark.browser
def test_served_under_a_policy_allowing_only_the_style_hash_nothing_is_refused(browser, html):
    """As the admin page serves it: no Content-Security-Policy violation, and the style applies."""
    policy = f"default-src 'none'; style-src {report_page.style_hash()}"
    context = browser.new_context(viewport=PHONE)
    tab = context.new_page()
    refused: list[str] = []
    tab.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    tab.route(
        "http://report.invalid/",
        lambda route: route.fulfill(
            body=html, content_type="text/html", headers={"Content-Security-Policy": policy}
        ),
    )
    try:
        tab.goto("http://report.invalid/")
        max_width = tab.evaluate("() => getComputedStyle(document.querySelector('main')).maxWidth")
    finally:
        context.close()

    assert refused == []
    assert max_width == "768px"


@pytest.mark.browser
def test_the_page_the_command_writes_shows_the_numbers_of_its_json(browser, make_app, tmp_path):
    """Real records, through `signups report --json --html`: the page Chromium renders shows
    every number the JSON has, and only those."""
    app = make_app(SIGNUP_REPORT_MIN_GROUP="2", SIGNUP_REPORT_MIN_SAMPLE="5")
    records = app.extensions["signup_records"]
    outcomes = {"A": ["confirmed"] * 6 + ["created"] * 4, "B": ["confirmed"] * 3 + ["failed"] * 5}
    people = [(variant, outcome) for variant, seq in outcomes.items() for outcome in seq]
    for index, (variant, outcome) in enumerate([*people, ("rare", "created")]):
        records.add(
            {
                "created_at": datetime(2025, 3, 1 + index % 3, 10, tzinfo=UTC),
                "identity_hash": f"{index:064x}",
                "outcome": outcome,
                "client_kind": "form",
                "variant": variant,
            }
        )
    page_file = tmp_path / "report.html"

    result = app.test_cli_runner().invoke(
        args=["signups", "report", "--json", "--html", str(page_file)]
    )
    written = json.loads(result.output)
    page = opened(browser, page_file, DESKTOP)
    try:
        page.locator("details").evaluate("details => { details.open = true; }")
        shown = dict(
            page.evaluate(
                """() => [...document.querySelectorAll('[data-figure]')]
                    .map(el => [el.dataset.figure, el.textContent.trim()])"""
            )
        )
        text = page.locator("body").inner_text()
    finally:
        page.context.close()

    assert shown == expected_figures(written)
    assert "rare" in text  # shown as a group, with too few people to count
    assert {"group": "rare", "too_few": True} in written["groups"]
