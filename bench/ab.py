"""Two versions of the service, measured in turns: `.venv/bin/python bench/ab.py A B`.

A and B are checkouts of this repository (``git worktree add ../before <commit>``), each run
with its own code and this checkout's .venv unless it has one of its own. Each is served as
`make bench` serves the service (bench/run.py: same stand-in, a fresh database, the same
production settings), a freshly started server per block, alone on the machine, in turns
A B B A A B ... (bench/run.py's ``measure_in_turn``); then each block's figures, each
version's totals and B/A.
``--env-a``/``--env-b`` add settings to one side (``--env-b WEB_CONCURRENCY=3``), so the same
checkout can be measured against itself with one setting changed; bench/patches.py does that
for each serving patch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run


@dataclass(frozen=True)
class Side:
    """One version under test: a checkout, and settings added to the service's."""

    name: str
    checkout: Path = ROOT
    settings: Mapping[str, str] = field(default_factory=dict)


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The load both sides get; the defaults are `make bench`'s fast scenario."""
    parser.add_argument("--latency-ms", type=float, default=0, help="added by the stand-in")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=40, help="measured time per side")
    parser.add_argument("--blocks", type=int, default=8, help="turns per side")


def measure(
    sides: list[Side], latency_ms: float, connections: int, seconds: float, blocks: int
) -> list[tuple[run.Target, run.Figures]]:
    """Each side served as `make bench` serves the service, on one stand-in and one fresh
    database, in turns; each side's target (its blocks) and totals."""
    with run.standin(latency_ms) as base, run.database(base) as url:
        targets = []
        for side in sides:
            port = run.free_port()
            env = {**run.service_env(base, url), "PORT": str(port), **side.settings}
            health = f"http://127.0.0.1:{port}/healthz"
            where = side.checkout.resolve()
            start = partial(run.process, run.service_command(where), env, health, where)
            targets.append(run.Target(side.name, port, start))
        figures = run.measure_in_turn("ab", targets, connections, seconds, blocks)
    return list(zip(targets, figures, strict=True))


def cpu_ms_per_signup(target: run.Target) -> float:
    """Worker CPU per sign-up over all of ``target``'s blocks: what a patch saves per request,
    whether or not the machine had cores to spare for more throughput."""
    spent = sum(block.cores * block.seconds for block in target.blocks)
    return spent * 1000 / sum(block.requests for block in target.blocks)


def settings(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    add_load_options(parser)
    parser.add_argument("--env-a", action="append", default=[])
    parser.add_argument("--env-b", action="append", default=[])
    args = parser.parse_args()

    sides = [Side("A", args.a, settings(args.env_a)), Side("B", args.b, settings(args.env_b))]
    measured = measure(sides, args.latency_ms, args.connections, args.seconds, args.blocks)
    for target, totals in measured:
        for block in target.blocks:
            print(
                f"{target.name}: {block.requests / block.seconds:.0f}/s "
                f"p50 {block.p50_ms:.0f} ms p99 {block.p99_ms:.0f} ms errors {block.errors} "
                f"worker CPU {block.cores * block.seconds * 1000 / block.requests:.2f} ms"
                " per sign-up"
            )
        print(
            f"== {target.name}: {totals.rps:.0f}/s, median block's p99 {totals.p99_ms:.0f} ms, "
            f"errors {totals.errors}, worker CPU {cpu_ms_per_signup(target):.2f} ms per sign-up"
        )
    (_, a), (_, b) = measured
    print(f"B/A throughput: {b.rps / a.rps:.3f}")


if __name__ == "__main__":
    main()
