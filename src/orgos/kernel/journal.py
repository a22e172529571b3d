"""Group commit: many runs' journal writes share one transaction.

A run submits ops and gets the future of the batch they will be in; it awaits
that future only when it must (a result before the run sees it, an intent
before a non-idempotent effect). One writer task drains the buffer: while a
batch is being written (and, in power-safe mode, fsynced), the next one fills.

The intent of a repeatable syscall need not be durable before its effect, so
it is held back (``defer``) and written in one row with its result when that
comes soon; a call that takes longer than ``defer_delay`` has its intent
written on its own, so a slow call still shows in the journal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from orgos.errors import FencedOut
from orgos.store.base import Append, JournalEntry, Op, RunRecord, RunStatus, Store, UpdateRun
from orgos.store.codec import prepare, safe_text
from orgos.store.fencing import without
from orgos.store.waiting import Waiting

log = logging.getLogger("orgos.journal")


#: Told of runs whose writes were refused: another worker claimed them since.
Refused = Callable[[frozenset[str]], None]


class Journal:
    def __init__(
        self,
        store: Store,
        worker_id: str,
        fences: Mapping[str, int] | None = None,
        on_refused: Refused | None = None,
    ):
        self._store = store
        self._worker_id = worker_id
        #: The fence each run of this worker was claimed with (its kernel's
        #: ``claims``): every batch carries them, the store checks them.
        self._fences = fences
        #: Called, before the batch's waiters are woken, with the runs whose
        #: ops were dropped because their fence moved on.
        self._on_refused = on_refused
        self._buf: list[Op] = []
        self._fut: asyncio.Future[None] | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        #: Deferred ops by id: held for less than one tick, and for more.
        self._young: dict[int, Op] = {}
        self._old: dict[int, Op] = {}
        self.defer_delay = 0.5
        self.batches = 0
        self.ops = 0
        #: The first write error, if any; the kernel stops when it is a FencedOut.
        self.error: BaseException | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._writer(), name="orgos-journal")

    def submit(self, *ops: Op) -> asyncio.Future[None]:
        """Queue ops for the next batch; the future resolves once they are durable.

        Each op is encoded here, so a value that cannot be stored raises
        PayloadError to this caller alone (nothing is queued) and never fails
        the batch other runs share; the batch writes the encoded text."""
        if self._closed:
            raise RuntimeError("journal is closed")
        for op in ops:
            if op.encoded is None:
                prepare(op)
        self._buf.extend(ops)
        fut = self._fut
        if fut is None:
            fut = self._fut = _Commit(loop=asyncio.get_running_loop())
            fut.add_done_callback(_retrieve)
        self._wakeup.set()
        return fut

    def defer(self, op: Op) -> None:
        """Hold ``op`` back: the caller takes it back with ``undefer`` and
        submits it with the op that completes it, unless it has been held
        ``defer_delay`` (between one and two ticks) and was written already."""
        if self._closed:
            raise RuntimeError("journal is closed")
        if op.encoded is None:
            prepare(op)  # a PayloadError is the caller's, before its effect
        self._young[id(op)] = op
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.defer_delay, self._tick)

    def undefer(self, op: Op) -> bool:
        """Take back a deferred op; False when it was written meanwhile."""
        key = id(op)
        return self._young.pop(key, None) is not None or self._old.pop(key, None) is not None

    def _tick(self) -> None:
        self._timer = None
        if self._old:
            self._buf.extend(self._old.values())
            self._wakeup.set()
        self._old, self._young = self._young, {}
        if self._old:
            self._timer = asyncio.get_running_loop().call_later(self.defer_delay, self._tick)

    async def _writer(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._buf:
                batch, fut = self._buf, self._fut
                self._buf, self._fut = [], None
                try:
                    batch = await self._write(batch)
                except Exception as exc:  # reported to every waiter of the batch
                    if self.error is None:
                        self.error = exc
                    log.error("journal batch of %d ops failed: %s", len(batch), exc)
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
                else:
                    self.batches += 1
                    self.ops += len(batch)
                    if fut is not None and not fut.done():
                        fut.set_result(None)
            if self._closed:
                return

    async def _write(self, batch: list[Op]) -> list[Op]:
        """Write ``batch``; the ops of runs another worker claimed since are
        dropped (their tasks told first), and the rest written again.
        Returns what was written."""
        while True:
            try:
                await self._store.write_batch(self._worker_id, batch, self._fences)
                return batch
            except FencedOut as exc:
                if not exc.runs:
                    raise  # this worker is fenced: nothing of it may be written
                log.error("%s; their ops are dropped", exc)
                if self._on_refused is not None:
                    self._on_refused(exc.runs)
                batch = without(batch, exc.runs)
                if not batch:
                    return batch

    async def close(self) -> None:
        """Write what is buffered, then stop the writer."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buf.extend(self._old.values())
        self._buf.extend(self._young.values())
        self._old.clear()
        self._young.clear()
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None


class _Commit(asyncio.Future[None]):
    """The commit of one batch, awaited by every run that wrote to it. A
    waiter that is cancelled (its run stopped or cancelled) must not cancel
    it for the others: ``cancel`` refuses, and the cancelled task stops when
    the commit is done (asyncio cancels it once it wakes)."""

    def cancel(self, msg: object = None) -> bool:
        return False


def _retrieve(fut: asyncio.Future[None]) -> None:
    # A batch nobody awaited must not warn "exception never retrieved": the
    # error is kept in Journal.error and logged once.
    if not fut.cancelled():
        fut.exception()


def end_ops(
    run: RunRecord,
    seq: int,
    status: RunStatus,
    output: Any,
    error: str | None,
    waiting: Waiting | None,
) -> tuple[Op, ...]:
    """The ops that record how a run ended, encoded: PayloadError when its
    output cannot be stored (the caller records a failure instead)."""
    if error is not None:
        error = safe_text(error)
    ops = (
        UpdateRun(run.id, status, output, error, waiting, release=status is RunStatus.WAITING,
                  tainted=run.tainted),
        Append(JournalEntry(run.id, seq, "status", status.value,
                            {"error": error} if error else None, run.workspace, time.time())),
    )  # fmt: skip
    for op in ops:
        prepare(op)
    return ops
