"""``flask --app wsgi signups ...``: the conversion report, the retention purge, reconciliation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any, TextIO

import click
from flask import current_app
from flask.cli import AppGroup

from app import errors
from app.cognito import CognitoGateway, DirectoryUnavailable
from app.config import RULES, parse_duration
from app.services.reconcile import Reconciler
from app.services.records import RecordKeeper
from app.storage.models import utcnow
from app.storage.repository import REPORT_DIMENSIONS, IdempotencyKeys, ReportRow, SignupRecords

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
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (2025-01-31) or date-time (2025-01-31T12:00Z)")
        if len(value) == 10:  # a bare date
            parsed = datetime.combine(parsed.date(), time())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


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


def _table(by: str, rows: list[ReportRow]) -> str:
    """Aligned columns: the group left-aligned, the figures right-aligned; a column per rule
    tripped in the window, holding refused/shadowed."""
    rules = [rule for rule in RULES if any(_tripped(row, rule) for row in rows)]
    table = [
        (by, "signups", "confirmed", "conversion", "clean", "clean conversion", *rules),
        *(
            (
                row.group or "(none)",
                str(row.signups),
                str(row.confirmed),
                f"{row.conversion:.1%}",
                str(row.clean_signups),
                f"{row.clean_conversion:.1%}",
                *(f"{row.enforced.get(rule, 0)}/{row.shadowed.get(rule, 0)}" for rule in rules),
            )
            for row in rows
        ),
    ]
    widths = [max(len(cells[column]) for cells in table) for column in range(len(table[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        for cells in table
    ]
    legend = "clean: sign-ups that tripped no rule in shadow mode."
    if rules:
        legend += " Rule columns: attempts refused/attempts shadowed."
    return "\n".join([*lines, "", legend])


def _tripped(row: ReportRow, rule: str) -> bool:
    return bool(row.enforced.get(rule) or row.shadowed.get(rule))


def _as_json(by: str, row: ReportRow) -> dict[str, Any]:
    return {
        by: row.group,
        "signups": row.signups,
        "confirmed": row.confirmed,
        "conversion": round(row.conversion, 4),
        "clean_signups": row.clean_signups,
        "clean_confirmed": row.clean_confirmed,
        "clean_conversion": round(row.clean_conversion, 4),
        "refused": dict(sorted(row.enforced.items())),
        "shadowed": dict(sorted(row.shadowed.items())),
    }


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
    """Sign-ups, confirmations, conversion and rule trips per variant (or utm_* / landing_page).

    A sign-up is an attempt that created a Cognito user; conversion is the share of those
    confirmed since, whenever the confirmation came. Each rule's column counts the attempts it
    refused (enforce mode) and the ones it let through in shadow mode; the clean figures leave
    the shadowed ones out.
    """
    try:
        rows = _records().report(by, since, until)
    except errors.StorageUnavailable:
        raise click.ClickException("The database cannot be read; see the log above.") from None
    if as_json:
        click.echo(json.dumps([_as_json(by, row) for row in rows], indent=2))
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
