"""``flask --app wsgi signups ...``: the conversion report, the retention purge, reconciliation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, TextIO

import click
from flask import current_app
from flask.cli import AppGroup

from app import errors
from app.api import report_page
from app.cognito import CognitoGateway, DirectoryUnavailable
from app.config import RULES, ReportSettings, parse_duration
from app.services import conversion
from app.services.conversion import BUCKETS, ReportOptions
from app.services.reconcile import Reconciler
from app.services.records import RecordKeeper
from app.storage.models import utcnow
from app.storage.repository import (
    FUNNEL_STEPS,
    REPORT_DIMENSIONS,
    IdempotencyKeys,
    SignupRecords,
)

signups = AppGroup(
    "signups", help="Signup records: conversion reports, retention and reconciliation."
)


class Timestamp(click.ParamType):
    """An ISO 8601 date or date-time; without a zone it is UTC, a bare date is its midnight."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, datetime):
            return value
        try:
            return conversion.parse_time(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (2025-01-31) or date-time (2025-01-31T12:00Z)")


class Duration(click.ParamType):
    name = "duration"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, timedelta):
            return value
        if self.allow_zero and value.strip() in ("0", "0s"):
            return timedelta(0)
        try:
            return parse_duration(value)
        except ValueError as error:
            self.fail(str(error))


def _records() -> SignupRecords:
    return current_app.extensions["signup_records"]


STEP_NAMES = ("started", "registered", "confirmed", "signed in")


def _aligned(table: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell: the first left-aligned, the figures right-aligned."""
    widths = [max(len(cells[column]) for cells in table) for column in range(len(table[0]))]
    return [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in table
    ]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _interval(figure: dict[str, Any]) -> str:
    if figure["low"] is None:
        return "-"
    return f"{figure['low']:.1%}-{figure['high']:.1%}"


def _name(group: str | None) -> str:
    return "(none)" if group is None else group


def _text(report: dict[str, Any]) -> str:
    """The report as aligned tables: the funnel and conversion per group with a column per rule
    tripped (refused/shadowed), then each comparison's verdict, then the counts over time."""
    groups = [group for group in report["groups"] if not group["too_few"]]
    rules = [
        rule
        for rule in RULES
        if any(group["refused"].get(rule) or group["shadowed"].get(rule) for group in groups)
    ]
    head = (report["by"], *STEP_NAMES, "conversion", "95% interval", *rules)
    rows = [head]
    for group in report["groups"]:
        if group["too_few"]:
            rows.append((_name(group["group"]), f"too few (under {report['min_group']})"))
            continue
        rows.append(
            (
                _name(group["group"]),
                *(str(group["funnel"][step]) for step in FUNNEL_STEPS),
                _percent(group["conversion"]["rate"]),
                _interval(group["conversion"]),
                *(f"{group['refused'].get(r, 0)}/{group['shadowed'].get(r, 0)}" for r in rules),
            )
        )
    width = len(head)
    lines = _aligned([row + ("",) * (width - len(row)) for row in rows])
    notes = ["", "Conversion: confirmed of registered. People, not attempts."]
    if rules:
        notes.append("Rule columns: attempts refused/attempts shadowed.")
    if not report["include_flagged"]:
        notes.append("Attempts a rule refused or flagged are left out (--include-flagged).")
    if report["control"] is not None:
        notes += ["", f"Against the control, {report['control']}:"]
        notes += [f"  {comparison['summary']}" for comparison in report["comparisons"]]
    return "\n".join([*lines, *notes, "", *_series_text(report)])


def _series_text(report: dict[str, Any]) -> list[str]:
    """Registered people per bucket and group."""
    points = report["series"]["points"]
    if not points:
        return []
    names = sorted({_name(point["group"]) for point in points})
    buckets = sorted({point["bucket"] for point in points})
    counts = {(point["bucket"], _name(point["group"])): point["registered"] for point in points}
    table = [(report["series"]["every"], *names)] + [
        (bucket, *(str(counts.get((bucket, name), 0)) for name in names)) for bucket in buckets
    ]
    return ["Registered per " + report["series"]["every"] + ":", *_aligned(table)]


@signups.command("report")
@click.option(
    "--by",
    type=click.Choice(REPORT_DIMENSIONS),
    default="variant",
    show_default=True,
    help="The attribution field to group by.",
)
@click.option("--since", type=Timestamp(), help="Attempts made at or after this time (UTC).")
@click.option("--until", type=Timestamp(), help="Attempts made before this time (UTC).")
@click.option(
    "--control",
    help="The group the others are compared with. [default: SIGNUP_REPORT_CONTROL, "
    "else the first group]",
)
@click.option(
    "--include-flagged", is_flag=True, help="Count attempts a sign-up rule refused or flagged."
)
@click.option(
    "--every",
    type=click.Choice(BUCKETS),
    default="day",
    show_default=True,
    help="The time series' buckets (UTC).",
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON instead of a table.")
@click.option(
    "--html",
    "html",
    type=click.File("w", encoding="utf-8"),
    help="Also write the report as one self-contained HTML page to this file.",
)
def report(
    by: str,
    since: datetime | None,
    until: datetime | None,
    control: str | None,
    include_flagged: bool,
    every: str,
    as_json: bool,
    html: TextIO | None,
) -> None:
    """The conversion funnel per variant (or utm_* / landing_page), each group against the
    control, and the counts over time.

    Every step counts people: started (any attempt), registered (a Cognito user was created),
    confirmed, signed in. Conversion is confirmed of registered, with a 95% Wilson interval; each
    group is compared with the control (Newcombe's interval for the difference, a two-proportion
    z-test), and no winner is called below SIGNUP_REPORT_MIN_SAMPLE registered people per group.
    Groups under SIGNUP_REPORT_MIN_GROUP people show as too few.
    """
    settings: ReportSettings = current_app.config["SIGNUP_REPORT"]
    options = ReportOptions(
        by=by,
        since=since,
        until=until,
        control=control or settings.control,
        include_flagged=include_flagged,
        every=every,
        min_sample=settings.min_sample,
        min_group=settings.min_group,
    )
    try:
        built = conversion.build(_records(), options)
    except errors.StorageUnavailable:
        raise click.ClickException("The database cannot be read; see the log above.") from None
    if html is not None:
        html.write(report_page.render(built))
    if as_json:
        click.echo(json.dumps(built, indent=2))
    elif built["groups"]:
        click.echo(_text(built))
    else:
        click.echo("No sign-ups in this window.")


@signups.command("purge")
@click.option(
    "--older-than",
    type=Duration(),
    help="Delete records older than this, e.g. 90d or 12h. [default: SIGNUP_RECORD_RETENTION]",
)
def purge(older_than: timedelta | None) -> None:
    """Delete signup records past their retention, and expired idempotency keys."""
    now = utcnow()
    cutoff = now - (older_than or current_app.config["SIGNUP_RECORD_RETENTION"])
    keys: IdempotencyKeys = current_app.extensions["idempotency_keys"]
    try:
        records = _records().purge(cutoff)
        expired = keys.purge_expired(now)
    except errors.StorageUnavailable:
        raise click.ClickException("The database cannot be written; see the log above.") from None
    click.echo(
        f"Deleted {records} signup records created before {cutoff.isoformat(timespec='seconds')} "
        f"and {expired} expired idempotency keys."
    )


@signups.command("reconcile")
@click.option(
    "--from-log",
    "log",
    type=click.File("r", encoding="utf-8"),
    help="Apply the repair lines the service logged (a file, or - for standard input) instead "
    "of asking Cognito. Needs no AWS credentials, but only repairs failed database writes.",
)
@click.option(
    "--older-than",
    type=Duration(allow_zero=True),
    default="2m",
    show_default=True,
    help="Leave attempts younger than this alone: their request may still be in flight.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be repaired; change nothing.")
def reconcile(log: TextIO | None, older_than: timedelta, dry_run: bool) -> None:
    """Repair signup records that do not say what Cognito did.

    By default asks Cognito: lists the pool's users (ListUsers, which needs AWS credentials
    allowing cognito-idp:ListUsers) and matches them to records left pending, or failed after an
    error that may have followed the user's creation (a timeout, say). A user found is recorded
    as created (or confirmed); a pending attempt that created no user is marked failed.
    Safe to run again, and while the service runs.
    """
    reconciler = Reconciler(_records())
    gateway: CognitoGateway | None = current_app.extensions.get("cognito")
    keeper: RecordKeeper | None = current_app.extensions.get("record_keeper")
    try:
        if log is not None:
            outcome = reconciler.from_log(log, dry_run=dry_run)
        elif gateway is None or keeper is None:
            raise click.ClickException(
                "Asking Cognito needs the COGNITO_* settings; or give --from-log."
            )
        else:
            outcome = reconciler.from_directory(
                gateway.list_users(),
                keeper.identity_hash,
                opened_before=utcnow() - older_than,
                dry_run=dry_run,
            )
    except DirectoryUnavailable as error:
        raise click.ClickException(str(error)) from None
    except errors.StorageUnavailable:
        raise click.ClickException("The database cannot be read; see the log above.") from None
    for repair in outcome.repairs:
        click.echo(repair.describe())
    verb = "Would repair" if dry_run else "Repaired"
    click.echo(f"{verb} {len(outcome.repairs)} of {outcome.checked} records checked.")
