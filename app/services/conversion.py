"""The conversion report: per A/B group, the funnel, each rate with its interval, each group
against the control with a verdict, and the counts over time.

One ``Report`` is built from the records and rendered three ways (the CLI's table and ``--json``,
and the HTML page), so every rendering shows the same numbers. It holds aggregates only: counts of
people per group, step and time bucket, never an identity or a per-person row; a group with fewer
than ``min_group`` people is shown as too few, without counts, in every part of the report.

Counting: every step counts people (distinct identities), so a retry is not a second person.
The headline conversion is confirmed / registered, as the report always had it. Attempts a rule
refused or tripped in shadow mode (bot-flagged) are left out unless ``include_flagged``; the rule
trips themselves are counted per group whatever that says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from app.services import experiment
from app.storage.repository import FUNNEL_STEPS, FunnelRow, RuleTrips, SignupRecords

# Each step's rate is of the people at the step before it.
STEPS = tuple(zip(FUNNEL_STEPS[1:], FUNNEL_STEPS[:-1], strict=True))
BUCKETS = ("day", "hour")


@dataclass(frozen=True)
class ReportOptions:
    by: str = "variant"
    since: datetime | None = None
    until: datetime | None = None
    control: str | None = None  # None: the first group with enough people
    include_flagged: bool = False
    every: str = "day"
    min_sample: int = 100  # registered people per group before a winner may be called
    min_group: int = 10  # people per group below which nothing about it is shown


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or date-time; without a zone it is UTC, a bare date is its midnight.

    ValueError for anything else.
    """
    parsed = datetime.fromisoformat(text)
    if len(text) == 10:  # a bare date
        parsed = datetime.combine(parsed.date(), time())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def build(records: SignupRecords, options: ReportOptions) -> dict[str, Any]:
    """The report as JSON-ready data: what ``--json`` prints and the page and table show."""
    flagged = options.include_flagged
    totals = records.funnel(options.by, options.since, options.until, include_flagged=flagged)
    trips = records.rule_trips(options.by, options.since, options.until)
    shown = {row.group for row in totals if row.started >= options.min_group}
    groups = [_group(row, row.group in shown, trips.get(row.group)) for row in totals]
    control = _control(options.control, [row for row in totals if row.group in shown])
    series = records.funnel(
        options.by, options.since, options.until, include_flagged=flagged, every=options.every
    )
    return {
        "by": options.by,
        "since": _iso(options.since),
        "until": _iso(options.until),
        "include_flagged": flagged,
        "min_sample": options.min_sample,
        "min_group": options.min_group,
        "control": control.group if control else None,
        "groups": groups,
        "comparisons": [
            _comparison(row, control, options.min_sample)
            for row in totals
            if control is not None and row.group in shown and row.group != control.group
        ],
        "series": {
            "every": options.every,
            "points": [
                {"bucket": row.bucket, "group": row.group, **_counts(row)}
                for row in series
                if row.group in shown
            ],
        },
    }


def _group(row: FunnelRow, shown: bool, trips: RuleTrips | None) -> dict[str, Any]:
    figures: dict[str, Any] = {"group": row.group, "too_few": not shown}
    if not shown:
        return figures
    counts = _counts(row)
    figures["funnel"] = counts
    figures["steps"] = {step: _rate(counts[step], counts[of]) for step, of in STEPS}
    figures["conversion"] = _rate(row.confirmed, row.registered)
    figures["refused"] = dict(sorted(trips.refused.items())) if trips else {}
    figures["shadowed"] = dict(sorted(trips.shadowed.items())) if trips else {}
    return figures


def _counts(row: FunnelRow) -> dict[str, int]:
    return {step: getattr(row, step) for step in FUNNEL_STEPS}


def _rate(successes: int, trials: int) -> dict[str, float | None]:
    interval = experiment.wilson(successes, trials)
    return {
        "rate": _round(successes / trials) if trials else None,
        "low": _round(interval.low) if interval else None,
        "high": _round(interval.high) if interval else None,
    }


def _control(named: str | None, shown: list[FunnelRow]) -> FunnelRow | None:
    """The named group, or the first shown one (groups come in name order)."""
    for row in shown:
        if named is None or row.group == named:
            return row
    return None


def _comparison(row: FunnelRow, control: FunnelRow, min_sample: int) -> dict[str, Any]:
    result = experiment.compare(
        row.group,
        row.confirmed,
        row.registered,
        control.group,
        control.confirmed,
        control.registered,
        min_sample=min_sample,
    )
    return {
        "group": result.group,
        "control": result.control,
        "rate": _round(result.rate),
        "control_rate": _round(result.control_rate),
        "difference": _round(result.difference),
        "low": _round(result.interval.low) if result.interval else None,
        "high": _round(result.interval.high) if result.interval else None,
        "p_value": _round(result.p_value),
        "verdict": result.verdict,
        "summary": result.summary,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None
