"""What the sign-up rules cost: the service with them off, on, and on without the prefix cache.

`.venv/bin/python bench/hygiene.py [--seconds 20 --blocks 4]`: the same checkout served as
`make bench` serves it (bench/ab.py: the range API is the stand-in's, on loopback), in turns:

- ``rules off``: the breached-password and disposable-domain rules off, the others as default;
- ``rules on``: the defaults (breached passwords enforced) plus disposable domains enforced, a
  deny list and sub-addresses in shadow mode; the load sends one password, so each worker's
  prefix cache answers after its first lookup;
- ``rules on, no cache``: as ``rules on`` with SIGNUP_BREACHED_PASSWORD_CACHE_SIZE=0, so every
  sign-up makes an HTTP lookup to the stand-in's range endpoint and parses its padded answer.

Prints each side's throughput, p50 and p99 (the median block's), worker CPU per sign-up, and each
against ``rules off``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ab

OFF = {"SIGNUP_RULE_BREACHED_PASSWORD": "off", "SIGNUP_RULE_DISPOSABLE_EMAIL": "off"}
ON = {
    "SIGNUP_RULE_DISPOSABLE_EMAIL": "enforce",
    # None is the load's domain (example.com): the list is searched, nothing is refused.
    "SIGNUP_EMAIL_DOMAINS_DENIED": "spam.test,junk.test,mailinator.com",
    "SIGNUP_RULE_EMAIL_SUBADDRESS": "shadow",
}
SIDES = [
    ab.Side("rules off", settings=OFF),
    ab.Side("rules on", settings=ON),
    ab.Side("rules on, no cache", settings={**ON, "SIGNUP_BREACHED_PASSWORD_CACHE_SIZE": "0"}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    ab.add_load_options(parser)
    parser.set_defaults(seconds=20, blocks=4)
    args = parser.parse_args()

    measured = ab.measure(SIDES, args.latency_ms, args.connections, args.seconds, args.blocks)
    for target, totals in measured:
        blocks = ", ".join(f"{block.requests / block.seconds:.0f}" for block in target.blocks)
        print(
            f"== {target.name}: {totals.rps:.0f}/s (blocks {blocks}), p50 {totals.p50_ms:.1f} ms, "
            f"p99 {totals.p99_ms:.1f} ms, errors {totals.errors}, "
            f"worker CPU {ab.cpu_ms_per_signup(target):.2f} ms per sign-up"
        )
    (base_target, base), *others = measured
    base_cpu = ab.cpu_ms_per_signup(base_target)
    for target, totals in others:
        print(
            f"{target.name} / {base_target.name}: throughput {totals.rps / base.rps:.3f}, "
            f"p50 {totals.p50_ms - base.p50_ms:+.1f} ms, "
            f"p99 {totals.p99_ms - base.p99_ms:+.1f} ms, "
            f"CPU {ab.cpu_ms_per_signup(target) / base_cpu:.3f}"
        )


if __name__ == "__main__":
    main()
