"""Each serving patch measured on its own: `.venv/bin/python bench/patches.py [NAME ...]`.

For each patch of app/serving/patches.py (or those named), the service with every patch
(SIGNUP_SERVING_PATCHES=all) against the same code with all but that one, in turns as
bench/ab.py measures two versions: by default `make bench`'s fast scenario (no added latency,
32 connections), where a patch's saving is least hidden by waiting. A patch stays only where it
earns it: at least 3 % more throughput or 3 % less worker CPU per sign-up. Prints each patch's
figures and verdict as it is measured, then a Markdown table for docs/performance.md, also
written to bench/results/patches.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.serving import patches as serving
from bench import ab

KEEP_AT = 0.03  # the smallest gain, either way, that pays for a patch of a library


@dataclass(frozen=True)
class Verdict:
    """One patch's figures, with it and without it."""

    patch: str
    rps_with: float
    rps_without: float
    cpu_ms_with: float  # worker CPU per sign-up
    cpu_ms_without: float
    errors: int  # both sides together

    @property
    def throughput_gain(self) -> float:
        return self.rps_with / self.rps_without - 1

    @property
    def cpu_saved(self) -> float:
        return 1 - self.cpu_ms_with / self.cpu_ms_without

    @property
    def keep(self) -> bool:
        return max(self.throughput_gain, self.cpu_saved) >= KEEP_AT


def without(patch: str) -> str:
    """The switch's value for every patch but ``patch``."""
    rest = sorted(serving.NAMES - {patch})
    return ",".join(rest) or "none"  # an empty list would mean the default, all


def measure(patch: str, args: argparse.Namespace) -> Verdict:
    sides = [
        ab.Side("all", settings={serving.SWITCH: "all"}),
        ab.Side(f"without {patch}", settings={serving.SWITCH: without(patch)}),
    ]
    (on, on_totals), (off, off_totals) = ab.measure(
        sides, args.latency_ms, args.connections, args.seconds, args.blocks
    )
    return Verdict(
        patch=patch,
        rps_with=on_totals.rps,
        rps_without=off_totals.rps,
        cpu_ms_with=ab.cpu_ms_per_signup(on),
        cpu_ms_without=ab.cpu_ms_per_signup(off),
        errors=on_totals.errors + off_totals.errors,
    )


def line(verdict: Verdict) -> str:
    v = verdict
    errors = f", {v.errors} errors" if v.errors else ""
    return (
        f"{v.patch}: {v.rps_with:.0f}/s with, {v.rps_without:.0f}/s without "
        f"({v.throughput_gain:+.1%}); worker CPU {v.cpu_ms_with:.2f} ms per sign-up with, "
        f"{v.cpu_ms_without:.2f} without ({v.cpu_saved:+.1%} saved){errors}: "
        f"{'keep' if v.keep else 'remove'}"
    )


def table(verdicts: list[Verdict], args: argparse.Namespace) -> str:
    lines = [
        f"Stand-in latency {args.latency_ms:g} ms, {args.connections} connections, "
        f"{args.seconds:g} s per side in {args.blocks} turns (`bench/patches.py`); "
        f"a patch is kept at {KEEP_AT:.0%} or more either way.",
        "",
        "| patch | req/s with | req/s without | throughput gain | CPU ms/sign-up with "
        "| CPU ms/sign-up without | CPU saved | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in verdicts:
        lines.append(
            f"| {v.patch} | {v.rps_with:.0f} | {v.rps_without:.0f} | {v.throughput_gain:+.1%} "
            f"| {v.cpu_ms_with:.2f} | {v.cpu_ms_without:.2f} | {v.cpu_saved:+.1%} "
            f"| {'keep' if v.keep else 'remove'} |"
        )
    if failed := [v.patch for v in verdicts if v.errors]:
        lines += ["", f"Errors during the runs of: {', '.join(failed)}; their figures are suspect."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    names = ", ".join(sorted(serving.NAMES))
    parser.add_argument("patches", nargs="*", metavar="NAME", help=f"default: all of {names}")
    ab.add_load_options(parser)
    args = parser.parse_args()
    # Checked here: argparse's choices refuses an empty list for nargs="*" on Python 3.11.
    if unknown := sorted(set(args.patches) - serving.NAMES):
        parser.error(f"no patch named {', '.join(unknown)}; the patches: {names}")

    verdicts = []
    for patch in args.patches or sorted(serving.NAMES):
        verdicts.append(measure(patch, args))
        print(line(verdicts[-1]), flush=True)
    text = table(verdicts, args)
    print(f"\n{text}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "patches.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
