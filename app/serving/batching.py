"""Writes that arrive together go to the database together: one round trip and one commit each.

Under load, many requests of a worker want the same statement at the same moment (the record
written before Cognito is called, and the one after). A ``Batcher`` lets one of them, the leader,
run everything waiting as one batch while the others wait for their own result; whatever arrives
meanwhile waits for the next batch, led by the oldest of it. Alone, a request runs its item at
once: batching never makes anyone wait for a timer, only for the batch in flight.

Threads and greenlets alike (gevent patches ``threading``): every caller still gets its own answer
or its own error, and nothing returns before its item is committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class RunAlone(Exception):
    """A batch's outcome for an item that must be run by itself (the batch as a whole failed)."""


class _Slot(Generic[Item, Result]):
    __slots__ = ("item", "leads", "outcome", "settled", "turn")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.outcome: Result | BaseException | None = None
        self.settled = False
        self.leads = False  # chosen, under the lock, to lead the next batch
        self.turn = threading.Event()  # set when the outcome is in, or when this slot leads


class Batcher(Generic[Item, Result]):
    """Runs items through ``run_batch`` in batches, one batch in flight at a time.

    ``run_batch`` gets the items in arrival order and returns one outcome per item: a result, or
    an exception for that item's caller alone (a fresh one each). An outcome of ``RunAlone``, or
    ``run_batch`` raising, sends each caller to ``run_one`` with its own item, in its own thread.
    A caller whose item no batch has taken within ``wait_seconds`` gets TimeoutError, its item
    never run: a batch stuck in the database holds the ones behind it no longer than that.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Item]], Sequence[Result | BaseException]],
        run_one: Callable[[Item], Result],
        wait_seconds: float,
    ) -> None:
        self._run_batch = run_batch
        self._run_one = run_one
        self._wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._waiting: list[_Slot[Item, Result]] = []
        self._leading = False

    @property
    def waiting(self) -> int:
        """How many callers wait for a batch to take their item."""
        return len(self._waiting)

    def submit(self, item: Item) -> Result:
        slot: _Slot[Item, Result] = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            follow = self._leading
            self._leading = True
        if follow:
            try:
                if not slot.turn.wait(self._wait_seconds) and self._abandon(slot):
                    raise TimeoutError(f"no batch took the item within {self._wait_seconds} s")
                slot.turn.wait()  # taken into a batch: its outcome comes with the batch's
            except BaseException:  # interrupted (a greenlet killed): leave no one waiting on us
                self._abandon(slot)
                raise
        if not slot.settled:  # no batch had it yet: this caller leads the next one
            self._lead()
        if isinstance(slot.outcome, RunAlone):
            return self._run_one(item)
        if isinstance(slot.outcome, BaseException):
            raise slot.outcome
        return slot.outcome  # type: ignore[return-value]

    def _lead(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting, []
        outcomes: Sequence[Result | BaseException] = [RunAlone() for _ in batch]
        try:
            produced = self._run_batch([slot.item for slot in batch])
            if len(produced) == len(batch):
                outcomes = produced
        except Exception:  # noqa: S110 - each caller then runs its own item and meets its own error
            pass
        finally:
            # Even when the leader itself is interrupted, nobody is left waiting.
            self._hand_over(batch, outcomes)

    def _hand_over(
        self, batch: list[_Slot[Item, Result]], outcomes: Sequence[Result | BaseException]
    ) -> None:
        with self._lock:
            following = self._choose_next()
        for slot, outcome in zip(batch, outcomes, strict=True):
            slot.outcome, slot.settled = outcome, True
            slot.turn.set()
        if following is not None:
            following.turn.set()

    def _abandon(self, slot: _Slot[Item, Result]) -> bool:
        """Take ``slot`` out of the queue unless a batch has it already: whether it was."""
        with self._lock:
            if slot not in self._waiting:
                return False
            self._waiting.remove(slot)
            following = self._choose_next() if slot.leads else None
        if following is not None:
            following.turn.set()
        return True

    def _choose_next(self) -> _Slot[Item, Result] | None:
        """The oldest waiting slot leads next; with none, the next caller leads. Under the lock."""
        following = self._waiting[0] if self._waiting else None
        self._leading = following is not None
        if following is not None:
            following.leads = True
        return following
