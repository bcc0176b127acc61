"""`make bench`: the service against a naive Flask+boto3 proxy, same Cognito stand-in, same load.

Starts the stand-in (bench/standin.py) with an added latency, the service as `make run` serves it
but with production settings (Redis rate-limit storage, a fresh PostgreSQL database, every
protection on with limits set high, the breached-password check asking the stand-in's range
endpoint on loopback), and the naive proxy (bench/naive_proxy.py) with gunicorn's
defaults, and in the slow scenario with the service's worker model too (naive-gevent: what the
machine gives a proxy with nothing in it); drives each with wrk (or bench/loadgen.py), the two in
turns where their ratio is close, and prints throughput, latency, errors, CPU and memory per
worker, and the ratio service/naive.
Results also go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import cognito_environment
from bench import loadgen

BIN = Path(sys.executable).parent
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/"
HIGH = "1000000/second"
CLIENT = {"client_id": "benchclient1", "client_secret": "bench-secret-value", "region": "us-east-1"}


@dataclass
class Figures:
    scenario: str
    target: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    workers: int
    cpu_per_worker: float  # cores busy, averaged over the run
    mem_per_worker_mb: float  # proportional set size


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers: good enough for a port that has no GET route
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


@contextmanager
def process(
    args: list[str],
    env: dict[str, str],
    url: str | None,
    cwd: Path = ROOT,
    stderr: IO[str] | None = None,
    stop_seconds: float = 30,
) -> Iterator[subprocess.Popen]:
    """``args`` running (answering at ``url``, if given) until the block ends; then stopped with
    SIGTERM and waited for up to ``stop_seconds`` before it is killed."""
    child = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        if url:
            wait_for(url, child)
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=stop_seconds)
        except subprocess.TimeoutExpired:
            child.kill()


@contextmanager
def database(env: dict[str, str]) -> Iterator[str]:
    """A fresh PostgreSQL database with the migrations applied, dropped afterwards."""
    import psycopg

    name = f"signup_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES + name
    try:
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env={**env, "DATABASE_URL": url},
            check=True,
            capture_output=True,
        )
        yield url
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def drive(port: int, connections: int, seconds: float) -> dict[str, float]:
    if shutil.which("wrk"):
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "60s",  # the naive proxy queues 200 connections on one sync worker
                "-s",
                str(ROOT / "bench" / "load.lua"),
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        line = next(line for line in out.splitlines() if line.startswith("WRK_JSON "))
        return json.loads(line.removeprefix("WRK_JSON "))
    return loadgen.run("127.0.0.1", port, connections, seconds)


@dataclass
class _Block:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cores: float  # busy, summed over the workers
    workers: int
    mem_mb: float  # per worker


class Target:
    """One server under test, started afresh for each block it is measured in."""

    def __init__(self, name: str, port: int, serve: Callable[[], AbstractContextManager]) -> None:
        self.name, self.port, self.serve = name, port, serve
        self.blocks: list[_Block] = []

    def block(self, connections: int, seconds: float) -> None:
        with self.serve() as server:
            # Warm-up (pools, imports, caches) with few connections: a full one would leave the
            # naive proxy's single worker a backlog that the measured run then pays for.
            drive(self.port, min(connections, 4), min(3.0, seconds))
            workers = children(server.pid) or [server.pid]
            before = {pid: cpu_seconds(pid) for pid in workers}
            result = drive(self.port, connections, seconds)
            busy = sum(cpu_seconds(pid) - before[pid] for pid in workers) / result["seconds"]
            self.blocks.append(
                _Block(
                    requests=int(result["requests"]),
                    seconds=result["seconds"],
                    p50_ms=result["p50_ms"],
                    p99_ms=result["p99_ms"],
                    errors=int(result["errors"]),
                    cores=busy,
                    workers=len(workers),
                    mem_mb=sum(pss_mb(pid) for pid in workers) / len(workers),
                )
            )

    def figures(self, scenario: str) -> Figures:
        blocks = self.blocks
        seconds = sum(b.seconds for b in blocks)
        workers = blocks[-1].workers
        return Figures(
            scenario=scenario,
            target=self.name,
            rps=sum(b.requests for b in blocks) / seconds,
            # Percentiles do not add up across blocks: the median block's.
            p50_ms=statistics.median(b.p50_ms for b in blocks),
            p99_ms=statistics.median(b.p99_ms for b in blocks),
            errors=sum(b.errors for b in blocks),
            requests=sum(b.requests for b in blocks),
            workers=workers,
            cpu_per_worker=sum(b.cores * b.seconds for b in blocks) / seconds / workers,
            mem_per_worker_mb=statistics.median(b.mem_mb for b in blocks),
        )


def measure_in_turn(
    scenario: str, targets: list[Target], connections: int, seconds: float, blocks: int
) -> list[Figures]:
    """Each target driven for ``seconds`` in all, in ``blocks`` turns: A B B A A B ...

    The machine's speed drifts by 10-20% over minutes (other tenants, clocks): measured one after
    the other, a ratio between two targets carries that drift; taking turns, both see it. Each
    block has the machine to itself, as a run of its own would: only its target is serving.
    """
    for turn in range(blocks):
        for target in targets if turn % 2 == 0 else targets[::-1]:
            target.block(connections, seconds / blocks)
    return [target.figures(scenario) for target in targets]


def service_env(base: dict[str, str], database_url: str) -> dict[str, str]:
    """The service's production settings, its range API the stand-in's (on loopback), so the
    breached-password check is on and answered; the naive proxy has no such check."""
    standin_url = base["AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"]
    return {
        **base,
        "SIGNUP_BREACHED_PASSWORD_URL": f"{standin_url}/range/",
        "DATABASE_URL": database_url,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
        "RATELIMIT_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "SIGNUP_RATE_LIMIT_PER_IP": HIGH,
        "SIGNUP_RATE_LIMIT_PER_IDENTITY": HIGH,
        "SIGNUP_RATE_LIMIT_GLOBAL": HIGH,
        "SIGNUP_RATE_LIMIT_CONFIRM_PER_USERNAME": HIGH,
        "SIGNUP_HIDE_EXISTING_USERS": "true",
        "LOG_LEVEL": "WARNING",
    }


def standin_environment(port: int) -> dict[str, str]:
    """This environment without its AWS settings, pointed at the stand-in on ``port``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "AWS_"))}
    base.update(
        cognito_environment(
            user_pool_id="us-east-1_Bench1", endpoint_url=f"http://127.0.0.1:{port}", **CLIENT
        )
    )
    return base


def service_command(checkout: Path = ROOT) -> list[str]:
    """gunicorn as `make run` starts it, with ``checkout``'s .venv if it has one, else ours."""
    own = checkout / ".venv" / "bin" / "gunicorn"
    return [
        str(own if own.exists() else BIN / "gunicorn"),
        "--config",
        "python:app.serving.gunicorn_conf",
    ]


def naive_command(port: int) -> list[str]:
    """The naive proxy under gunicorn's defaults (one sync worker)."""
    return [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "bench.naive_proxy:app"]


# The service's worker model (app/serving/gunicorn_conf.py): what it takes to keep 200 slow
# calls waiting.
GEVENT_WORKERS, GEVENT_CONNECTIONS = 2, 1000


def naive_gevent_command(port: int) -> list[str]:
    """The naive proxy under the service's worker model: what the machine gives a bare proxy."""
    model = ["--worker-class", "gevent", "--workers", str(GEVENT_WORKERS)]
    return [*naive_command(port), *model, "--worker-connections", str(GEVENT_CONNECTIONS)]


@contextmanager
def standin(latency_ms: float) -> Iterator[dict[str, str]]:
    """The Cognito stand-in with ``latency_ms`` added; yields an environment pointing at it."""
    port = free_port()
    base = standin_environment(port)
    command = [sys.executable, "bench/standin.py", "--port", str(port)]
    with process([*command, "--latency-ms", str(latency_ms)], base, f"http://127.0.0.1:{port}/"):
        yield base


def scenario_figures(
    name: str,
    latency_ms: float,
    connections: int,
    seconds: float,
    cores: str | None,
    blocks: int,
    ceiling: bool = False,
) -> list[Figures]:
    """The service and (unless pinned to ``cores``) the naive proxy, in turns; with ``ceiling``,
    the naive proxy under the service's worker model too."""
    service_port = free_port()
    pin = ["taskset", "-c", cores] if cores else []
    gunicorn = [*pin, *service_command()]
    with standin(latency_ms) as base, database(base) as url:
        env = {**service_env(base, url), "PORT": str(service_port)}
        health = f"http://127.0.0.1:{service_port}/healthz"
        targets = [Target("service", service_port, lambda: process(gunicorn, env, health))]
        proxies = []  # none beside a pinned service: its figure is for scaling only
        if cores is None:
            proxies.append(("naive", naive_command, base))
            if ceiling:
                pool = {"NAIVE_MAX_CONNECTIONS": str(GEVENT_CONNECTIONS)}
                proxies.append(("naive-gevent", naive_gevent_command, {**base, **pool}))
        for target, command, proxy_env in proxies:
            port = free_port()
            start = partial(process, command(port), proxy_env, f"http://127.0.0.1:{port}/")
            targets.append(Target(target, port, start))
        return measure_in_turn(name, targets, connections, seconds, blocks)


def report(figures: list[Figures]) -> str:
    columns = [
        "scenario",
        "target",
        "req/s",
        "p50_ms",
        "p99_ms",
        "errors",
        "workers",
        "CPU/worker",
        "MB/worker",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|---|---|" + "---:|" * (len(columns) - 2)]
    for f in figures:
        lines.append(
            f"| {f.scenario} | {f.target} | {f.rps:.0f} | {f.p50_ms:.1f} | {f.p99_ms:.1f} | "
            f"{f.errors} | {f.workers} | {f.cpu_per_worker:.2f} | {f.mem_per_worker_mb:.0f} |"
        )
    by = {(f.scenario, f.target): f for f in figures}
    lines.append("")
    for scenario in dict.fromkeys(f.scenario for f in figures):
        service, naive = by.get((scenario, "service")), by.get((scenario, "naive"))
        if service and naive and naive.rps:
            lines.append(f"{scenario}: service/naive throughput = {service.rps / naive.rps:.2f}x")
        bare = by.get((scenario, "naive-gevent"))
        if service and bare and bare.rps:
            lines.append(
                f"{scenario}: service/naive-gevent throughput = {service.rps / bare.rps:.2f}x"
            )
    one, two = by.get(("fast-1core", "service")), by.get(("fast", "service"))
    if one and two and one.rps:
        lines.append(f"service scaling 1 -> 2 cores: {two.rps / one.rps:.2f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("BENCH_SECONDS", 20)),
        help="measured time per target in the slow and the 1-core scenarios",
    )
    parser.add_argument(
        "--fast-seconds",
        type=float,
        default=float(os.environ.get("BENCH_FAST_SECONDS", 40)),
        help="measured time per target in the fast scenario, the close call: split into turns",
    )
    parser.add_argument("--only", choices=["fast", "slow", "cores"], action="append")
    parser.add_argument(
        "--blocks",
        type=int,
        default=int(os.environ.get("BENCH_BLOCKS", 8)),
        help="turns per target in the fast scenario",
    )
    args = parser.parse_args()
    chosen = args.only or ["fast", "slow", "cores"]
    print(f"load generator: {'wrk' if shutil.which('wrk') else 'bench/loadgen.py'}", flush=True)
    figures: list[Figures] = []
    if "fast" in chosen:
        figures += scenario_figures("fast", 0, 32, args.fast_seconds, None, args.blocks)
    if "slow" in chosen:
        # One block each: the p99 target is over one whole run; the naive proxy's 6 sign-ups a
        # second are no close call.
        figures += scenario_figures("slow-150ms", 150, 200, args.seconds, None, 1, ceiling=True)
    if "cores" in chosen:
        figures += scenario_figures("fast-1core", 0, 32, args.seconds, "0", 1)
    text = report(figures)
    print(text)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(json.dumps([asdict(f) for f in figures], indent=2))


if __name__ == "__main__":
    main()
