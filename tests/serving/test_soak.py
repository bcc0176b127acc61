"""The soak: mixed traffic through gunicorn while Cognito, Redis and PostgreSQL fail in turn, then
reconciliation; the records must match what the strict double holds, and no answer may be a bug
(tests/support/soak.py says what is checked). A short one runs in `make test`; `make soak` runs
the long one, marked slow: SOAK_SECONDS (default 120) long, SOAK_SEED to repeat a run's choices.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import databases, soak
from tests.support.faults import MissingDependency, require

# served: the soak runs gunicorn (through tests/support/soak.py), so it runs with patches off too.
pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.served]

SHORT_SECONDS = 15


def soak_for(
    folder: Path, seconds: float, concurrency: int, log: Callable[[str], None], seed: int | None
) -> tuple[list[str], int]:
    """Every broken invariant of a soak with every fault, and how many users Cognito ended with."""
    with databases.fresh_postgres_database() as url:
        try:
            with soak.stand(url, folder) as running:
                problems = soak.run(running, seconds, concurrency, faults=True, log=log, seed=seed)
                users = len(running.cognito.users())
        except MissingDependency as error:
            require(error)
    return problems, users


def test_a_short_soak_with_every_fault_ends_with_records_matching_cognito(tmp_path: Path) -> None:
    problems, users = soak_for(tmp_path, SHORT_SECONDS, 8, print, seed=None)

    assert problems == []
    assert users > 50  # the traffic really created users


@pytest.mark.slow
def test_a_long_soak_with_every_fault_ends_with_records_matching_cognito(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    # Only when asked for by its marker (`make soak`): a plain `pytest tests` stays minutes shorter.
    if "slow" not in request.config.getoption("markexpr"):
        pytest.skip("the long soak runs with -m slow (make soak)")
    seconds = float(os.environ.get("SOAK_SECONDS", "120"))
    seed = os.environ.get("SOAK_SEED")
    # Its timeline (the seed, each fault, the answers, the reconciliation) as it happens: a long
    # run is watched, and its summary is the point of running it.
    with capsys.disabled():
        problems, users = soak_for(tmp_path, seconds, 16, print, int(seed) if seed else None)
        print(f"{users} users in Cognito")

    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems[:50])
    assert users > 50
