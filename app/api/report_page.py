"""The conversion report as one self-contained HTML page: what ``signups report --html`` writes
and the admin page serves.

Everything is inline (one ``<style>``, the charts as SVG with presentation attributes only) and
there is no script, so the page can be mailed as a file, opens offline, and is served under a
Content-Security-Policy that allows nothing but ``style_hash()``. The charts' geometry is worked
out here; report.html draws it. Every number on the page is one of the report's, and each sits
in an element whose ``data-figure`` names where in the report it comes from.
"""

from __future__ import annotations

import base64
import hashlib
import math
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

STEPS = ("started", "registered", "confirmed", "signed_in")  # the report's funnel, in order
STEP_NAMES = {
    "started": "started",
    "registered": "registered",
    "confirmed": "confirmed",
    "signed_in": "signed in",
}
VERDICTS = {
    "better": "Better",
    "worse": "Worse",
    "no_difference": "No clear difference",
    "too_early": "Too early to call",
}
# Okabe and Ito's palette: told apart with any colour vision, and on white.
COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
STEP_COLOURS = ("#1d4ed8", "#4f78e0", "#819fe8", "#b3c6f0")

# Charts are 340 units wide, about a phone's width in px: their 13-unit text reads at 13 px there.
WIDTH = 340
LABEL = 76  # the left column, for group and step names
BAR = 200  # the longest funnel bar; its count is written after it

STYLE = """
:root { color-scheme: light; --ink: #1b1b1f; --muted: #5b5b66; --line: #d4d4da; --accent: #1d4ed8; }
* { box-sizing: border-box; }
body { font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
  margin: 0; background: #fff; }
main { max-width: 48rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; overflow-wrap: break-word; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 0.75rem; }
h2 { font-size: 1.2rem; margin: 2.25rem 0 0.5rem; padding-top: 1rem;
  border-top: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 1.25rem 0 0.25rem; }
dl.window { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 0.75rem; margin: 0; }
dl.window dt { color: var(--muted); }
dl.window dd { margin: 0; }
.table { overflow-x: auto; margin: 0.5rem 0 1rem; }
table { border-collapse: collapse; font-size: 0.9rem; width: 100%; }
th, td { text-align: left; padding: 0.35rem 0.4rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
.interval { display: block; color: var(--muted); font-size: 0.85em; white-space: nowrap; }
.range { white-space: nowrap; }
.too-few { color: var(--muted); font-style: italic; }
.muted, figcaption { color: var(--muted); }
figure { margin: 1rem 0 1.5rem; }
figcaption { font-size: 0.9rem; margin-bottom: 0.25rem; }
svg { display: block; width: 100%; height: auto; max-width: 28rem;
  font-family: system-ui, sans-serif; }
.comparison { border-left: 4px solid var(--line); padding: 0.25rem 0 0.25rem 0.75rem;
  margin: 1rem 0; }
.comparison.better { border-color: #007a4d; }
.comparison.worse { border-color: #a40000; }
.comparison.no_difference { border-color: var(--accent); }
.verdict { font-weight: 600; }
.better .verdict { color: #007a4d; }
.worse .verdict { color: #a40000; }
details summary { cursor: pointer; font-weight: 600; }
.notes li { margin-bottom: 0.4rem; }
/* On a phone a wide table becomes a card per row, each figure under its column's name. */
@media (max-width: 36rem) {
  table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden;
    clip-path: inset(50%); }
  table.cards tr { display: grid; grid-template-columns: repeat(auto-fill, minmax(4.5rem, 1fr));
    gap: 0.1rem 0.5rem; padding: 0.5rem 0; border-bottom: 1px solid var(--line); }
  table.cards th, table.cards td { display: block; border: 0; padding: 0; text-align: left; }
  table.cards th[scope=row], table.cards td[colspan] { grid-column: 1 / -1; }
  table.cards td[data-label]::before { content: attr(data-label); display: block;
    color: var(--muted); font-size: 0.8rem; }
}
"""


def style_hash() -> str:
    """STYLE's CSP source expression, e.g. for ``style-src``."""
    digest = hashlib.sha256(STYLE.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def render(report: dict[str, Any]) -> str:
    """The whole page for ``report`` (as ``conversion.build`` returns it); no app context needed."""
    shown = [group for group in report["groups"] if not group["too_few"]]
    colours = {group["group"]: COLOURS[i % len(COLOURS)] for i, group in enumerate(shown)}
    return _TEMPLATES.get_template("report.html").render(
        report=report,
        shown=shown,
        style=Markup(STYLE),  # noqa: S704 - our own constant, not input
        policy=f"default-src 'none'; style-src {style_hash()}; base-uri 'none'; form-action 'none'",
        steps=STEPS,
        step_names=STEP_NAMES,
        verdicts=VERDICTS,
        funnel=funnel_chart(shown),
        intervals=interval_chart(shown, colours),
        series=series_chart(report["series"], colours),
        width=WIDTH,
        bars_from=LABEL,
    )


# Formatting: the same for every number, in tables and charts alike.


def name(group: str | None) -> str:
    return "(none)" if group is None else group


def count(value: int) -> str:
    return f"{value:,}"


def percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def points(difference: float | None) -> str:
    """A difference of rates in percentage points, signed ("-0.0" for a bound just below 0)."""
    if difference is None:
        return "n/a"
    return f"{'-' if math.copysign(1, difference) < 0 else '+'}{abs(difference) * 100:.1f}"


def p_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "< 0.0001" if value == 0 else f"{value:.4f}"


# Chart geometry, in viewBox units.


class Bar(NamedTuple):
    figure: str  # the data-figure of the number written after the bar
    label: str
    value: str
    y: float
    width: float
    colour: str


class Heading(NamedTuple):
    text: str
    y: float


def funnel_chart(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Per group, one bar per step, all to one scale so groups compare by eye."""
    top = max((group["funnel"]["started"] for group in groups), default=0) or 1
    headings, bars, y = [], [], 0.0
    for group in groups:
        headings.append(Heading(name(group["group"]), y + 15))
        y += 21
        for step, colour in zip(STEPS, STEP_COLOURS, strict=True):
            people = group["funnel"][step]
            figure = f"{name(group['group'])}.funnel.{step}"
            width = BAR * people / top
            bars.append(Bar(figure, STEP_NAMES[step], count(people), y, width, colour))
            y += 19
        y += 10
    return {"headings": headings, "bars": bars, "height": max(y, 1)}


class Whisker(NamedTuple):
    group: str
    y: float
    rate: float  # x of the dot
    low: float
    high: float
    label: str
    label_x: float
    colour: str


def interval_chart(groups: list[dict[str, Any]], colours: dict[str | None, str]) -> dict[str, Any]:
    """Each group's conversion as a dot, its 95% interval as a whisker, on a 0-100% axis."""
    left, right = LABEL, WIDTH - 14
    span = right - left
    rows: list[Whisker] = []
    y = 34.0
    for group in groups:
        conversion = group["conversion"]
        if conversion["rate"] is None:
            continue
        rate = left + span * conversion["rate"]
        low = left + span * (conversion["low"] if conversion["low"] is not None else 0)
        high = left + span * (conversion["high"] if conversion["high"] is not None else 1)
        label_x = min(max(rate, left + 20), right - 20)  # kept inside the chart
        label = percent(conversion["rate"])
        colour = colours[group["group"]]
        rows.append(Whisker(name(group["group"]), y, rate, low, high, label, label_x, colour))
        y += 34
    ticks = [(left + span * share, f"{share:.0%}") for share in (0, 0.25, 0.5, 0.75, 1)]
    return {"rows": rows, "ticks": ticks, "top": 8, "bottom": y - 12, "height": y + 8}


class Line(NamedTuple):
    group: str
    colour: str
    points: str  # for <polyline points="...">
    dots: list[tuple[float, float]]


def series_chart(series: dict[str, Any], colours: dict[str | None, str]) -> dict[str, Any]:
    """People registered per bucket, one line per group. A bucket with no row for a group had
    nobody start there, so its line goes through 0."""
    buckets = sorted({point["bucket"] for point in series["points"]})
    left, right, top, bottom = 40.0, WIDTH - 12.0, 12.0, 150.0
    peak = max(series["points"], key=lambda point: point["registered"], default=None)
    most = peak["registered"] if peak and peak["registered"] else 1
    if len(buckets) > 1:
        step = (right - left) / (len(buckets) - 1)
        at = {bucket: left + step * i for i, bucket in enumerate(buckets)}
    else:
        at = {bucket: (left + right) / 2 for bucket in buckets}
    lines = []
    for group, colour in colours.items():
        registered = {p["bucket"]: p["registered"] for p in series["points"] if p["group"] == group}
        dots = [(at[b], bottom - (bottom - top) * registered.get(b, 0) / most) for b in buckets]
        text = " ".join(f"{x:.1f},{y:.1f}" for x, y in dots)
        lines.append(Line(name(group), colour, text, dots if len(buckets) <= 31 else []))
    legend = [
        (left + 95 * (i % 3), bottom + 42 + 18 * (i // 3), line.group, line.colour)
        for i, line in enumerate(lines)
    ]
    return {
        "buckets": buckets,
        "first": buckets[0] if buckets else None,
        "last": buckets[-1] if len(buckets) > 1 else None,
        "peak": peak,
        "peak_figure": f"{name(peak['group'])}.series.{peak['bucket']}.registered" if peak else "",
        "lines": lines,
        "legend": legend,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "height": bottom + 42 + 18 * ((len(lines) + 2) // 3),
    }


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        name=name, count=count, percent=percent, points=points, p_value=p_value
    )
    return environment


_TEMPLATES = _environment()
