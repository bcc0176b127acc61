"""What tracing costs: the service with tracing off, and on, measured in turns.

`.venv/bin/python bench/tracing.py [--before CHECKOUT]`: the same checkout served as `make bench`
serves it (bench/ab.py), once with no OTEL_* setting (off) and once exporting every span over
OTLP/HTTP to a sink in this process that answers as a collector does and keeps nothing (on).
With ``--before``, a checkout without tracing (``git worktree add ../before <commit>``) is
measured in the same turns, so "off" can be compared with code that has no tracing at all.
"""

from __future__ import annotations

import argparse
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ab


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that reads each export and answers 200 with an empty response."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        """Silent: one line per export would drown the figures."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, help="a checkout without tracing, measured too")
    ab.add_load_options(parser)
    parser.set_defaults(seconds=20, blocks=4)
    args = parser.parse_args()

    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}"
    sides = [ab.Side("before", args.before)] if args.before else []
    sides += [
        ab.Side("off"),
        ab.Side("on", settings={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}),
    ]
    try:
        measured = ab.measure(sides, args.latency_ms, args.connections, args.seconds, args.blocks)
    finally:
        sink.shutdown()
    for target, totals in measured:
        blocks = ", ".join(f"{block.requests / block.seconds:.0f}" for block in target.blocks)
        print(
            f"== {target.name}: {totals.rps:.0f}/s (blocks {blocks}), median block's p99 "
            f"{totals.p99_ms:.0f} ms, errors {totals.errors}, "
            f"worker CPU {ab.cpu_ms_per_signup(target):.2f} ms per sign-up"
        )
    base = measured[0][1]
    for target, totals in measured[1:]:
        print(f"{target.name}/{measured[0][0].name} throughput: {totals.rps / base.rps:.3f}")


if __name__ == "__main__":
    main()
