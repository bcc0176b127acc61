"""Instructions a worker executes per sign-up, counted by callgrind: `bench/instructions.py A B`.

`--naive` adds the naive proxy (bench/naive_proxy.py under gunicorn's defaults, as `make bench`
serves it) after the checkouts.

Requests per second on this machine drift by 10-20% within minutes, so a change worth 2% of a
worker's CPU is lost in the noise of any timed run, in turns or not. callgrind counts the
instructions the worker executes instead: the same code, driven the same way, gives the same count
within a few tenths of a percent, whatever else the machine is doing.

Each checkout (A, B, ...: `git worktree add ../before <commit>`) is served as `make bench` serves
the service (bench/run.py: the stand-in with no added latency, a fresh PostgreSQL database, the
same production settings) but with one worker, run under callgrind with counting off; after a
warm-up, counting is switched on for ``--sign-ups`` sign-ups over ``--connections`` keep-alive
connections, then off. Prints instructions per sign-up for each, and each against the first.
What it leaves out: the kernel's side of each system call, and the worker's waits; and valgrind
runs the worker some 25 times slower, so a worker batches its writes differently than at full
speed. Needs valgrind (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen, run

WARM_UP = 64


async def _sign_ups(port: int, count: int, connections: int) -> None:
    """``count`` sign-ups, ``connections`` at a time; any answer but a 201 stops the run."""

    async def connection(share: int) -> None:
        sign_ups = loadgen.SignUps("127.0.0.1", port)
        try:
            for _ in range(share):
                status = await sign_ups.post(f"i{uuid.uuid4().hex}@example.com")
                if not status.startswith(b"HTTP/1.1 201"):
                    raise SystemExit(f"a sign-up was answered {status!r}")
        finally:
            sign_ups.close()

    shares = [count // connections + (i < count % connections) for i in range(connections)]
    await asyncio.gather(*(connection(share) for share in shares))


def _callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def instructions_per_sign_up(checkout: Path | None, sign_ups: int, connections: int) -> float:
    """The service from ``checkout``, or with None the naive proxy (bench/naive_proxy.py)."""
    port = run.free_port()
    with ExitStack() as stack:
        base = stack.enter_context(run.standin(0))
        if checkout is None:  # as bench/run.py serves it: gunicorn's defaults, no database
            env, cwd, health = base, ROOT, f"http://127.0.0.1:{port}/"
            server = run.naive_command(port)
        else:
            url = stack.enter_context(run.database(base))
            env = {**run.service_env(base, url), "PORT": str(port), "WEB_CONCURRENCY": "1"}
            cwd, health = checkout, f"http://127.0.0.1:{port}/healthz"
            server = run.service_command(checkout)
        out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="callgrind-")))
        counting = [
            "valgrind",
            "--tool=callgrind",
            "--trace-children=yes",  # the worker is a fork of gunicorn's master
            "--instr-atstart=no",
            f"--callgrind-out-file={out}/callgrind.%p",
            *server,
            "--timeout",
            "600",
        ]
        log = stack.enter_context((out / "valgrind.log").open("w"))
        # Up to 10 minutes to stop: callgrind writes its counts as the worker exits, slowly.
        with run.process(counting, env, health, cwd, stderr=log, stop_seconds=600):
            asyncio.run(_sign_ups(port, WARM_UP, connections))
            _callgrind("--instr=on")
            asyncio.run(_sign_ups(port, sign_ups, connections))
            _callgrind("--instr=off")
        # The master counted nothing it did itself; the worker's file holds the sign-ups.
        return max(_total(path) for path in out.glob("callgrind.*")) / sign_ups


def _total(path: Path) -> int:
    """The instructions counted in one process (its "totals:" line; "summary:" can be 0)."""
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkouts", type=Path, nargs="*")
    parser.add_argument("--naive", action="store_true", help="the naive proxy too, last")
    parser.add_argument("--sign-ups", type=int, default=400)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    targets = [*args.checkouts, *([None] if args.naive else [])]
    first = None
    for target in targets:
        checkout = target.resolve() if target else None
        counted = instructions_per_sign_up(checkout, args.sign_ups, args.connections)
        first = first or counted
        print(
            f"{target or 'naive proxy'}: {counted / 1e6:.3f} M instructions per sign-up "
            f"({counted / first:.3f}x the first)",
            flush=True,
        )


if __name__ == "__main__":
    main()
