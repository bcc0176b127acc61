"""What each part of a sign-up costs in CPU: `.venv/bin/python bench/costs.py`.

One process, the Flask test client, the fast stand-in, Redis and a fresh PostgreSQL database, as in
`make bench`. Sign-ups run in blocks with a part switched off in turn (the records, the budgets,
the per-IP limiter), interleaved with blocks of the naive proxy; each figure is the best block, the
least disturbed by the machine's other work. Switching a part off is for measuring only: the
service never runs without them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run

PARTS = ("records", "budgets", "limiter")
VARIANTS = ("all on", *(f"without {part}" for part in PARTS), "without all three")


class _NoRecords:
    def open(self, *args: object, **kwargs: object) -> int:
        return 0

    def created(self, *args: object, **kwargs: object) -> None:
        pass

    def failed(self, *args: object, **kwargs: object) -> None:
        pass


class _NoBudgets:
    def before_code_sent(self, *args: object) -> None:
        pass


def cpu_ms_per_sign_up(post: Callable[[str], int], emails: itertools.count, count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        status = post(f"cost{next(emails)}@example.com")
        assert status == 201, status
    return (time.process_time() - started) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--block", type=int, default=150, help="sign-ups per block")
    args = parser.parse_args()

    with run.standin(0) as base, run.database(base) as url:
        os.environ.clear()
        os.environ.update(run.service_env(base, url))
        from app import create_app
        from bench.naive_proxy import app as naive_app

        app = create_app()
        service = app.extensions["signup"]
        limiter = app.extensions["rate_limiter"]
        records, budgets = service._records, service._budgets

        def configure(variant: str) -> None:
            off = set(PARTS) if variant == "without all three" else {variant.split()[-1]}
            service._records = _NoRecords() if "records" in off else records
            service._budgets = _NoBudgets() if "budgets" in off else budgets
            limiter.enabled = "limiter" not in off

        def poster(client) -> Callable[[str], int]:
            body = {"password": "Correct-h0rse"}
            return lambda email: client.post("/register", json={**body, "email": email}).status_code

        post_service, post_naive = poster(app.test_client()), poster(naive_app.test_client())
        emails = itertools.count()
        best: dict[str, float] = {}
        for variant in VARIANTS:  # warm-up
            configure(variant)
            cpu_ms_per_sign_up(post_service, emails, 50)
        cpu_ms_per_sign_up(post_naive, emails, 50)
        for round_ in range(args.rounds):
            # A different order each round: no variant always follows the same one.
            shift = round_ % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                configure(variant)
                spent = cpu_ms_per_sign_up(post_service, emails, args.block)
                best[variant] = min(best.get(variant, spent), spent)
            spent = cpu_ms_per_sign_up(post_naive, emails, args.block)
            best["naive proxy"] = min(best.get("naive proxy", spent), spent)

    full = best["all on"]
    print("| service | CPU ms per sign-up | the part costs |")
    print("|---|---:|---:|")
    for name, spent in best.items():
        part = f"{full - spent:.2f}" if name.startswith("without") else ""
        print(f"| {name} | {spent:.2f} | {part} |")


if __name__ == "__main__":
    main()
