"""Executing runs on a worker: each run's task, its end, its wake check."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import pydantic_core

from orgos.errors import FencedOut, NotFound, PayloadError
from orgos.kernel.context import RunContext
from orgos.kernel.events import Event
from orgos.kernel.journal import end_ops
from orgos.kernel.syscall import Park, Stopping
from orgos.store.base import JournalEntry, RunRecord, RunStatus
from orgos.store.waiting import Waiting, WaitRuns

if TYPE_CHECKING:
    from orgos.kernel.kernel import Kernel

log = logging.getLogger("orgos.kernel")


class RunExecutor:
    """The execution of runs on one worker (a part of its ``Kernel``).

    Owns what happens between a run's launch and its end: the asyncio task
    that awaits the run's program through a ``RunContext`` (whose syscalls
    go through the kernel's pipeline), how the run ended (succeeded, failed,
    cancelled, parked, or left unfinished for another worker) recorded in the
    journal, the hooks told of its end, its parent woken, and, after a park
    is committed, the check-after-park: the kernel's waker for what it waits
    on asked whether that came meanwhile. The tables of the runs held and
    executing are the kernel's; this part keeps no state of its own."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def launch(self, rec: RunRecord, journal: list[JournalEntry]) -> None:
        """Execute ``rec`` (its journal so far: ``journal``) in a task of its own."""
        k = self.kernel
        k._held[rec.id] = rec
        k.claims[rec.id] = rec.fence
        for hook in k.on_run_start:
            hook(rec)
        k._active[rec.id] = asyncio.create_task(
            self._execute(rec, journal), name=rec.id, context=k._context.copy()
        )

    async def _execute(self, run: RunRecord, journal: list[JournalEntry]) -> None:
        """Execute the run's program and record how it ended (or left us).

        The program is awaited here, in the task's first frame: every
        suspension of a run passes through each frame of its await chain."""
        k = self.kernel
        ctx = RunContext(k, run, journal)
        output: Any = None
        error: str | None = None
        waiting: Waiting | None = None
        try:
            try:
                program = k.programs.get(run.kind)
                if program is None:
                    raise NotFound(f"no program for runs of kind {run.kind!r}")
                output = pydantic_core.to_jsonable_python(await program(ctx))
                status = RunStatus.SUCCEEDED
            except Park as p:
                status, error, waiting = RunStatus.WAITING, p.reason, p.waiting_on
            except asyncio.CancelledError:
                if run.id not in k._cancelling:
                    k._notify(run.id)
                    raise  # shutdown: the run stays unfinished, for recovery
                status, error = RunStatus.CANCELLED, "cancelled"
            except (FencedOut, Stopping):
                k._notify(run.id)  # unfinished, for a worker to resume
                return
            except Exception as exc:
                status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
            try:
                await self._record_end(ctx, status, output, error, waiting)
            except asyncio.CancelledError:
                if run.id not in k._cancelling:
                    raise
                # Cancelled while its end was being committed (a commit is
                # never cut short): parked by now, it is cancelled there.
                if status is RunStatus.WAITING:
                    with contextlib.suppress(Exception):
                        await k.store.request_cancel(run.workspace, run.id)
                k._notify(run.id)
        finally:
            # A woken run may already run again in a new task: leave that one be.
            if k._active.get(run.id) is asyncio.current_task():
                del k._active[run.id]
                if k.claims.get(run.id) == run.fence:  # a lost run's stays, refused
                    del k.claims[run.id]
            k._cancelling.discard(run.id)

    def lost(self, runs: frozenset[str]) -> None:
        """Another worker claimed these runs since this one did (the journal
        refused their writes): stop them here, and what they had begun.
        Their claims stay, stale, so nothing more of theirs is written."""
        k = self.kernel
        for rid in runs:
            k.claims[rid] = -1
            k._cancelling.discard(rid)
            task = k._active.get(rid)
            if task is not None:
                task.cancel()  # before its commit wakes it: it sees the cancel
            k._notify(rid)
        k.unreserve([rid for rid, rec in k._reserved.items() if rec.parent_id in runs])

    async def _record_end(
        self,
        ctx: RunContext,
        status: RunStatus,
        output: Any,
        error: str | None,
        waiting: Waiting | None,
    ) -> None:
        k, run = self.kernel, ctx.run
        try:
            try:
                ops = end_ops(run, ctx.seq, status, output, error, waiting)
            except PayloadError as exc:  # its output cannot be stored: it fails alone
                status, output, error = RunStatus.FAILED, None, f"output refused: {exc}"
                ops = end_ops(run, ctx.seq, status, output, error, waiting)
            await k.journal.submit(*ops)
        except Exception as exc:
            log.error("run %s: could not record status %s: %s", run.id, status, exc)
            k._notify(run.id)
            return
        run.status, run.output, run.error, run.waiting_on = status, output, error, waiting
        if k.events.active(run.root_id):
            k.events.publish(Event(run.id, run.root_id, "status",
                                   {"status": status.value, "error": error}))  # fmt: skip
        woke = False
        if status is RunStatus.WAITING:
            # No longer held: a child ending from now on wakes it itself. A
            # waiter still waits here until the check is done: the stored park
            # may be answered already (an approval decided while it parked).
            k._held.pop(run.id, None)
            k._parking.add(run.id)
            try:
                woke = await self._check_after_park(run, waiting)
            finally:
                k._parking.discard(run.id)
            # Waiters look again rather than see a stale park: woken at once,
            # or answered while the check read (an approval decided just then
            # queues the run itself).
            k._notify(run.id, None)
        else:
            k._notify(run.id, run)
        if status.terminal:
            for hook in k.on_run_end:
                hook(run)
            if run.parent_id is not None and run.parent_id not in k._held:
                # A parent this worker holds is not parked: when it parks, it
                # looks at its children itself (above), after this end is in.
                woke = await k.store.wake_if_ready(run.workspace, run.parent_id, ended=run.id)
        if woke or (k.scheduler is not None and k.scheduler.backlog):
            k._nudge.set()

    async def _check_after_park(self, run: RunRecord, waiting: Waiting | None) -> bool:
        """Ask the waker of what the committed park waits for whether it
        came meanwhile; True if it made the run runnable."""
        k = self.kernel
        if type(waiting) is WaitRuns and waiting.until is not None:
            k.timers.arm(run.workspace, run.id, waiting.until)
        waker = None if waiting is None else k.wakers.get(type(waiting))
        if waker is None:
            what = "nothing" if waiting is None else waiting.kind
            log.error("run %s parked on %s, which nothing wakes", run.id, what)
            return False
        try:
            return await waker(run)
        except Exception as exc:  # the sweep at the next start looks again
            log.warning("run %s: checking its wake (%s) failed: %s", run.id, waiting, exc)
        return False

    async def children_waker(self, run: RunRecord) -> bool:
        """Child runs that ended, or a deadline that passed, while it parked."""
        return await self.kernel.store.wake_if_ready(run.workspace, run.id)
