"""What the conversion report costs on a large table.

`.venv/bin/python bench/report.py [--people 10000 100000 1000000] [--runs 5]`: for each size, a
fresh PostgreSQL database (the machine's, as `make bench` makes them: bench/run.py) is migrated and
filled with that many people's attempts, spread over 30 days, three variants and two campaigns: 82 %
of people's attempts create a user, 60 % of those are confirmed and 70 % of the confirmed are signed
in; 15 % fail, 3 % are refused by a rule, 5 % tripped one in shadow mode; and one row in ten has an
earlier failed attempt by the same person. Indexes as the migrations make them.
Then, in turns, it times:

- ``build``: the report's queries and figures in-process (``app.services.conversion.build``),
  what the admin page waits for beyond rendering;
- ``--json``, ``--html`` and ``--every hour --json``: the whole command as an operator runs it,
  the interpreter's and the app's start included.

It prints the median and the fastest of the runs for each. The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run

# People first (one row each), then a second attempt for every tenth person, an hour earlier
# and failed, as a retry before the one that worked would be.
PEOPLE = """
INSERT INTO signup_records (created_at, identity_hash, outcome, error_code, refused_by,
    shadowed_rules, user_sub, confirmed_at, signed_in_at, client_kind, variant, utm_campaign)
SELECT at, identity,
       CASE WHEN roll < 0.03 THEN 'refused'
            WHEN roll < 0.18 THEN 'failed'
            WHEN roll < 0.18 + 0.82 * 0.6 THEN 'confirmed'
            ELSE 'created' END,
       CASE WHEN roll >= 0.03 AND roll < 0.18 THEN 'invalid_fields' END,
       CASE WHEN roll < 0.03 THEN 'disposable_email' END,
       CASE WHEN shadow < 0.05 THEN 'email_subaddress' END,
       CASE WHEN roll >= 0.18 THEN md5(identity) END,
       CASE WHEN roll >= 0.18 AND roll < 0.18 + 0.82 * 0.6 THEN at + interval '10 minutes' END,
       CASE WHEN roll >= 0.18 AND roll < 0.18 + 0.82 * 0.6 * 0.7
            THEN at + interval '11 minutes' END,
       'json', (ARRAY['A', 'B', 'C'])[1 + n % 3], (ARRAY['spring', 'summer', NULL])[1 + n % 7 % 3]
FROM (
    SELECT n, md5(n::text) || md5((-n)::text) AS identity, random() AS roll, random() AS shadow,
           now() - random() * interval '30 days' AS at
    FROM generate_series(1, {}) AS n
) AS person
"""
RETRIES = """
INSERT INTO signup_records (created_at, identity_hash, outcome, error_code, client_kind, variant)
SELECT created_at - interval '1 hour', identity_hash, 'failed', 'upstream_timeout', 'json', variant
FROM signup_records WHERE id % 10 = 0
"""


def flask(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def seed(url: str, people: int) -> int:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(sql.SQL(PEOPLE).format(sql.Literal(people)))
        connection.execute(RETRIES)
        connection.execute("ANALYZE signup_records")
        return connection.execute("SELECT count(*) FROM signup_records").fetchone()[0]


def in_process(env: dict[str, str]) -> Callable[[], None]:
    os.environ.update(env)
    from app import create_app
    from app.services import conversion

    app = create_app()
    records = app.extensions["signup_records"]

    def build() -> None:
        with app.app_context():
            conversion.build(records, conversion.ReportOptions())

    return build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    page = Path(tempfile.mkdtemp()) / "report.html"
    print(f"{'people':>9} {'rows':>9}  {'what':<22} {'median':>8} {'fastest':>8}")
    for people in args.people:
        with run.database(dict(os.environ)) as url:
            env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
            rows = seed(url, people)
            build = in_process(env)
            report = partial(flask, env, "signups", "report")
            commands: dict[str, Callable[[], None]] = {
                "build (in-process)": build,
                "report --json": partial(report, "--json"),
                "report --html": partial(report, "--html", str(page)),
                "--every hour --json": partial(report, "--every", "hour", "--json"),
            }
            build()  # warm: the first query plans, the first page reads
            times: dict[str, list[float]] = {what: [] for what in commands}
            for _ in range(args.runs):
                for what, command in commands.items():  # in turns: drift touches each alike
                    started = time.perf_counter()
                    command()
                    times[what].append(time.perf_counter() - started)
        for what, taken in times.items():
            print(
                f"{people:>9} {rows:>9}  {what:<22} "
                f"{statistics.median(taken):>7.2f}s {min(taken):>7.2f}s"
            )


if __name__ == "__main__":
    main()
