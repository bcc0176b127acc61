"""The batched_writes patch: concurrent writes go to the database in batches, one round trip and
one commit per batch.

Each caller still gets its own answer or its own error, and none before its row is committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError

from app import errors
from app.serving import batched_writes
from app.serving.batching import Batcher, RunAlone
from app.storage.repository import Settlement, SignupRecords, engine_options
from tests.conftest import GENEROUS_LIMITS, signup_body
from tests.support import databases
from tests.support.faults import wait_until


class Recorder:
    """``run_batch`` and ``run_one`` for a Batcher; the first batch can be held until released."""

    def __init__(self, hold_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.alone: list[int] = []
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.outcome: Callable[[int], object] = lambda item: item * 10

    def run_batch(self, batch: Sequence[int]) -> list[object]:
        self.batches.append(list(batch))
        self.release.wait(10)
        return [self.outcome(item) for item in batch]

    def run_one(self, item: int) -> int:
        self.alone.append(item)
        return item * 100


def submit_all(batcher: Batcher, items: Sequence[int], recorder: Recorder) -> dict[int, object]:
    """Submit ``items`` from a thread each while the first batch is held; every caller's answer."""
    answers: dict[int, object] = {}

    def submit(item: int) -> None:
        try:
            answers[item] = batcher.submit(item)
        except Exception as error:  # the answer under test
            answers[item] = error

    threads = [threading.Thread(target=submit, args=(items[0],))]
    threads[0].start()
    wait_until(lambda: recorder.batches)
    for item in items[1:]:
        threads.append(threading.Thread(target=submit, args=(item,)))
        threads[-1].start()
    wait_until(lambda: batcher.waiting == len(items) - 1)
    recorder.release.set()
    for thread in threads:
        thread.join(10)
    return answers


def test_a_lone_item_runs_at_once_as_a_batch_of_one():
    recorder = Recorder()
    batcher = Batcher(recorder.run_batch, recorder.run_one, wait_seconds=1)

    assert [batcher.submit(1), batcher.submit(2)] == [10, 20]
    assert recorder.batches == [[1], [2]]


def test_items_arriving_during_a_batch_go_together_in_the_next_one():
    recorder = Recorder(hold_first=True)
    batcher = Batcher(recorder.run_batch, recorder.run_one, wait_seconds=5)

    answers = submit_all(batcher, range(1, 9), recorder)

    assert answers == {item: item * 10 for item in range(1, 9)}
    assert recorder.batches[0] == [1]
    assert sorted(recorder.batches[1]) == list(range(2, 9))


def test_each_caller_gets_its_own_error_from_a_batch():
    recorder = Recorder(hold_first=True)
    recorder.outcome = lambda item: ValueError(item) if item % 2 else item
    batcher = Batcher(recorder.run_batch, recorder.run_one, wait_seconds=5)

    answers = submit_all(batcher, range(1, 6), recorder)

    assert {item: answer for item, answer in answers.items() if item % 2 == 0} == {2: 2, 4: 4}
    failed = [answers[item] for item in (1, 3, 5)]
    assert [error.args for error in failed] == [(1,), (3,), (5,)]
    assert len({id(error) for error in failed}) == 3


@pytest.mark.parametrize("failure", ["raises", "run alone"])
def test_when_a_batch_fails_as_a_whole_each_caller_runs_its_own_item(failure):
    recorder = Recorder(hold_first=True)

    def outcome(item: int) -> object:
        if item > 1 and failure == "raises":
            raise ValueError("the batch broke")
        return RunAlone() if item > 1 else item * 10

    recorder.outcome = outcome
    batcher = Batcher(recorder.run_batch, recorder.run_one, wait_seconds=5)

    answers = submit_all(batcher, range(1, 5), recorder)

    assert answers == {1: 10, 2: 200, 3: 300, 4: 400}
    assert sorted(recorder.alone) == [2, 3, 4]


def test_a_caller_stuck_behind_a_batch_gives_up_after_the_wait_and_its_item_never_runs():
    recorder = Recorder(hold_first=True)
    batcher = Batcher(recorder.run_batch, recorder.run_one, wait_seconds=0.3)
    first = threading.Thread(target=batcher.submit, args=(1,))
    first.start()
    wait_until(lambda: recorder.batches)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        batcher.submit(2)
    waited = time.monotonic() - started
    recorder.release.set()
    first.join(10)

    assert 0.3 <= waited < 2
    assert batcher.submit(3) == 30  # the next caller leads a batch of its own
    assert recorder.batches == [[1], [3]]


def expect_timeout(batcher: Batcher, item: int) -> None:
    with pytest.raises(TimeoutError):
        batcher.submit(item)


def test_a_caller_chosen_to_lead_that_gives_up_hands_the_lead_on():
    recorder = Recorder(hold_first=True)
    batcher = Batcher(recorder.run_batch, recorder.run_one, wait_seconds=0.3)
    threading.Thread(target=batcher.submit, args=(1,)).start()
    wait_until(lambda: recorder.batches)
    gave_up = threading.Thread(target=expect_timeout, args=(batcher, 2))
    gave_up.start()
    gave_up.join(5)  # 2 was next in line, and left
    answers: list[int] = []
    waiting = threading.Thread(target=lambda: answers.append(batcher.submit(3)))
    waiting.start()
    wait_until(lambda: batcher.waiting)

    recorder.release.set()
    waiting.join(5)

    assert answers == [30]
    assert [batch for batch in recorder.batches if 2 in batch] == []


@pytest.fixture
def batched(monkeypatch):
    """batched_writes installed for this test alone."""
    for method in ("__init__", "add", "settle"):
        monkeypatch.setattr(SignupRecords, method, getattr(SignupRecords, method))  # restored
    batched_writes.install()


@pytest.fixture
def records(postgres_database_url: str, batched):
    """The records on an engine set up as the service's (autocommit, a pool of 5)."""
    engine = create_engine(postgres_database_url, **engine_options(postgres_database_url, 5))
    try:
        yield SignupRecords(engine)
    finally:
        engine.dispose()


def row(**overrides: object) -> dict[str, object]:
    return {
        "created_at": datetime.now(UTC),
        "identity_hash": "a" * 64,
        "outcome": "pending",
        "client_kind": "json",
        **overrides,
    }


def write_while_locked(url: str, records: SignupRecords, writes: Sequence[Callable[[], object]]):
    """Run ``writes`` from a thread each while the table is locked; each thread's answer.

    The first waits on the lock; the rest queue behind it, to go as one batch once it is free.
    """
    answers: list[object] = [None] * len(writes)

    def run(index: int) -> None:
        try:
            answers[index] = writes[index]()
        except Exception as error:  # the answer under test
            answers[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(writes))]
    with databases.engine_for(url) as engine, engine.connect() as locker:
        locker.exec_driver_sql("LOCK TABLE signup_records IN ACCESS EXCLUSIVE MODE")
        threads[0].start()
        wait_until(lambda: databases.backends_of(url, waiting_for_lock=True))
        for thread in threads[1:]:
            thread.start()
        wait_until(lambda: records._compiled.writes.batcher.waiting == len(writes) - 1)
        locker.rollback()
    for thread in threads:
        thread.join(10)
    return answers


def insert_while_locked(
    url: str, records: SignupRecords, rows: Sequence[dict[str, object]]
) -> list[object]:
    return write_while_locked(url, records, [partial(records.add, values) for values in rows])


@pytest.mark.postgres
def test_records_written_together_share_one_transaction(postgres_database_url, records):
    ids = insert_while_locked(postgres_database_url, records, [row() for _ in range(6)])

    with databases.engine_for(postgres_database_url) as engine, engine.connect() as reader:
        by_id = dict(reader.exec_driver_sql("SELECT id, xmin::text FROM signup_records").all())
    assert sorted(by_id) == sorted(ids)  # every caller got its own row's id
    transactions = [by_id[record_id] for record_id in ids]
    assert transactions[0] not in transactions[1:]
    assert len(set(transactions[1:])) == 1


@pytest.mark.postgres
def test_a_row_that_breaks_a_constraint_fails_alone(postgres_database_url, records):
    rows = [row(), row(), row(outcome="bogus"), row()]

    answers = insert_while_locked(postgres_database_url, records, rows)

    assert isinstance(answers[2], IntegrityError)
    ids = [answers[index] for index in (0, 1, 3)]
    assert all(isinstance(record_id, int) for record_id in ids)
    kept = databases.rows(postgres_database_url, "signup_records")
    assert sorted(record["id"] for record in kept) == sorted(ids)


@pytest.mark.postgres
def test_settlements_written_together_each_reach_their_own_row(postgres_database_url, records):
    ids = [records.add(row()) for _ in range(5)]
    settle = [
        threading.Thread(target=records.settle, args=(record_id, Settlement("created", f"s{n}")))
        for n, record_id in enumerate(ids)
    ]
    for thread in settle:
        thread.start()
    for thread in settle:
        thread.join(10)

    table = databases.rows(postgres_database_url, "signup_records")
    kept = {record["id"]: record for record in table}
    assert [(kept[i]["outcome"], kept[i]["user_sub"]) for i in ids] == [
        ("created", f"s{n}") for n in range(5)
    ]


@pytest.mark.postgres
def test_new_records_and_outcomes_waiting_together_share_one_transaction(
    postgres_database_url, records
):
    earlier = [records.add(row()) for _ in range(2)]
    writes = [
        partial(records.add, row()),  # waits on the lock, alone
        partial(records.settle, earlier[0], Settlement("created", "sub-0")),
        partial(records.add, row()),
        partial(records.settle, earlier[1], Settlement("failed", error_code="x")),
    ]

    answers = write_while_locked(postgres_database_url, records, writes)

    with databases.engine_for(postgres_database_url) as engine, engine.connect() as reader:
        by_id = dict(reader.exec_driver_sql("SELECT id, xmin::text FROM signup_records").all())
    together = {by_id[earlier[0]], by_id[answers[2]], by_id[earlier[1]]}
    assert len(together) == 1  # two outcomes and a new record, one commit
    assert by_id[answers[0]] not in together
    kept = {
        record["id"]: record for record in databases.rows(postgres_database_url, "signup_records")
    }
    assert (kept[earlier[0]]["outcome"], kept[earlier[0]]["user_sub"]) == ("created", "sub-0")
    assert (kept[earlier[1]]["outcome"], kept[earlier[1]]["error_code"]) == ("failed", "x")


@pytest.mark.postgres
def test_a_database_that_cannot_take_the_batch_fails_each_caller(records, postgres_database_url):
    with databases.engine_for(postgres_database_url) as engine, engine.connect() as admin:
        admin.exec_driver_sql("ALTER TABLE signup_records RENAME TO gone")
        admin.commit()
        try:
            with pytest.raises(errors.StorageUnavailable):
                records.add(row())
        finally:
            admin.exec_driver_sql("ALTER TABLE gone RENAME TO signup_records")
            admin.commit()


@pytest.mark.postgres
def test_a_burst_of_sign_ups_waits_as_one_batch_on_one_connection(
    batched, make_app, cognito, postgres_database_url
):
    database_url = postgres_database_url
    client = make_app(
        DATABASE_URL=database_url, DATABASE_POOL_SIZE="2", **GENEROUS_LIMITS
    ).test_client()
    answers = []

    def sign_up(n):
        answers.append(client.post("/register", json=signup_body(email=f"u{n}@example.com")))

    burst = [threading.Thread(target=sign_up, args=(n,)) for n in range(12)]
    with databases.engine_for(database_url) as engine, engine.connect() as locker:
        # Held up by a lock, the burst piles up: every sign-up wants its record written at once.
        locker.exec_driver_sql("LOCK TABLE signup_records IN ACCESS EXCLUSIVE MODE")
        own = locker.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        for thread in burst:
            thread.start()
        wait_until(lambda: databases.backends_of(database_url, waiting_for_lock=True))
        time.sleep(0.5)  # time enough to open more connections, were the records to need them
        connections = len(set(databases.backends_of(database_url)) - {own})
        locker.rollback()
    for thread in burst:
        thread.join(timeout=30)

    assert connections == 1
    assert [answer.status_code for answer in answers] == [201] * 12
