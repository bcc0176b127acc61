"""Two versions of the service, measured in turns: `.venv/bin/python bench/ab.py A B`.

A and B are checkouts of this repository (``git worktree add /tmp/before <commit>``), each run
with its own code and this checkout's .venv unless it has one of its own. Each is served as
`make bench` serves the service (bench/run.py: same stand-in, a fresh database, the same
production settings), a freshly started server per block, alone on the machine, in turns
A B B A A B ... (bench/run.py's ``measure_in_turn``); then each block's figures, each
version's totals and B/A.
``--env-a``/``--env-b`` add settings to one side (``--env-b WEB_CONCURRENCY=3``), so the same
checkout can be measured against itself with one setting changed.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run


def settings(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=40, help="measured time per version")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--env-a", action="append", default=[])
    parser.add_argument("--env-b", action="append", default=[])
    args = parser.parse_args()

    with run.standin(args.latency_ms) as base, run.database(base) as url:
        versions = []
        for name, checkout, extra in (("A", args.a, args.env_a), ("B", args.b, args.env_b)):
            port = run.free_port()
            env = {**run.service_env(base, url), "PORT": str(port), **settings(extra)}
            health = f"http://127.0.0.1:{port}/healthz"
            where = checkout.resolve()
            start = partial(run.process, run.service_command(where), env, health, where)
            versions.append(run.Target(name, port, start))
        figures = run.measure_in_turn("ab", versions, args.connections, args.seconds, args.blocks)
    for version, totals in zip(versions, figures, strict=True):
        for block in version.blocks:
            print(
                f"{version.name}: {block.requests / block.seconds:.0f}/s "
                f"p50 {block.p50_ms:.0f} ms p99 {block.p99_ms:.0f} ms errors {block.errors} "
                f"worker CPU {block.cores * block.seconds * 1000 / block.requests:.2f} ms"
                " per sign-up"
            )
        spent = sum(b.cores * b.seconds for b in version.blocks) * 1000
        print(
            f"== {version.name}: {totals.rps:.0f}/s, median block's p99 {totals.p99_ms:.0f} ms, "
            f"errors {totals.errors}, worker CPU {spent / totals.requests:.2f} ms per sign-up"
        )
    print(f"B/A throughput: {figures[1].rps / figures[0].rps:.3f}")


if __name__ == "__main__":
    main()
