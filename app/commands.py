"""``flask --app wsgi signups ...``: the conversion report and the retention purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from app import errors
from app.config import parse_duration
from app.models import utcnow
from app.repository import REPORT_DIMENSIONS, IdempotencyKeys, ReportRow, SignupRecords

signups = AppGroup("signups", help="Signup records: conversion reports and retention.")


class Timestamp(click.ParamType):
    """An ISO 8601 date or date-time; without a zone it is UTC, a bare date is its midnight."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (2025-01-31) or date-time (2025-01-31T12:00Z)")
        if len(value) == 10:  # a bare date
            parsed = datetime.combine(parsed.date(), time())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(value)
        except ValueError as error:
            self.fail(str(error))


def _records() -> SignupRecords:
    return current_app.extensions["signup_records"]


def _table(by: str, rows: list[ReportRow]) -> str:
    """Aligned columns: the group left-aligned, the figures right-aligned."""
    table = [(by, "signups", "confirmed", "conversion")] + [
        (row.group or "(none)", str(row.signups), str(row.confirmed), f"{row.conversion:.1%}")
        for row in rows
    ]
    widths = [max(len(cells[column]) for cells in table) for column in range(4)]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        for cells in table
    )


@signups.command("report")
@click.option(
    "--by",
    type=click.Choice(REPORT_DIMENSIONS),
    default="variant",
    show_default=True,
    help="The attribution field to group by.",
)
@click.option("--since", type=Timestamp(), help="Sign-ups made at or after this time (UTC).")
@click.option("--until", type=Timestamp(), help="Sign-ups made before this time (UTC).")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of rows instead of a table.")
def report(by: str, since: datetime | None, until: datetime | None, as_json: bool) -> None:
    """Sign-ups, confirmations and conversion rate per variant (or utm_* / landing_page).

    A sign-up is an attempt that created a Cognito user; conversion is the share of those
    confirmed since, whenever the confirmation came.
    """
    try:
        rows = _records().report(by, since, until)
    except errors.StorageUnavailable:
        raise click.ClickException("The database cannot be read; see the log above.") from None
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        by: row.group,
                        "signups": row.signups,
                        "confirmed": row.confirmed,
                        "conversion": round(row.conversion, 4),
                    }
                    for row in rows
                ],
                indent=2,
            )
        )
    elif rows:
        click.echo(_table(by, rows))
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
