"""A worker's membership in the store and its background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from orgos.errors import FencedOut
from orgos.kernel.journal import Journal
from orgos.store.base import Change, WorkerInfo

if TYPE_CHECKING:
    from orgos.kernel.kernel import Kernel

log = logging.getLogger("orgos.kernel")


class WorkerLoop:
    """The worker loop of a ``Kernel``: its membership in the store and the
    background tasks that keep it.

    Owns the worker's registration (with a lease, renewed by the
    housekeeping task, which also takes the cancel requests made on other
    workers), the dispatcher (it claims runnable runs while the kernel has
    room, through its scheduler if it has one, and launches them), the
    store's change notices (a run became claimable, a run ended), and the
    fence: a worker another one declared dead drops its runs and joins again
    under a new id."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.tasks: list[asyncio.Task[None]] = []
        self._unlisten: Callable[[], None] = lambda: None

    async def join(self) -> None:
        """Register this worker (with its lease) and open its journal."""
        k = self.kernel
        await k.store.workers.register(
            WorkerInfo(k.worker_id, socket.gethostname(), os.getpid(), time.time() + k.lease_ttl)
        )
        k.journal.start()

    def listen(self) -> None:
        """Start the housekeeping, and listen to the store's change notices:
        a store that announces changes (PostgreSQL) wakes the dispatcher and
        waiters at once; with one that cannot (SQLite) they look now and then."""
        self.tasks.append(asyncio.create_task(self._housekeeping(), name="orgos-housekeeping"))
        self._unlisten = self.kernel.store.listen(self._on_change)

    def dispatch(self) -> None:
        """Start claiming runnable runs."""
        self.tasks.append(asyncio.create_task(self._dispatcher(), name="orgos-dispatch"))

    def halt(self) -> None:
        """Stop listening and cancel the loops (awaited with the runs by ``Kernel.stop``)."""
        self._unlisten()
        for t in self.tasks:
            t.cancel()

    async def _dispatcher(self) -> None:
        k = self.kernel
        swept = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(k.poll_interval):
                    await k._nudge.wait()
            k._nudge.clear()
            if time.monotonic() - swept > 3 * k.lease_ttl:  # timers of a dead worker
                swept = time.monotonic()
                with contextlib.suppress(Exception):
                    await k.timers.arm_parked(k.workspaces)
            free = k.max_active - len(k._active) - len(k._reserved)
            if free <= 0:
                continue
            try:
                if k.scheduler is not None:
                    claimed = await k.scheduler.claim(k, free)
                else:
                    claimed = await k.store.claim_runs(
                        k.worker_id, free, time.time(), k.roots, workspaces=k.workspaces
                    )
                # Held from now on: a run admitted while the journals load
                # counts them (the scheduler's limits and shares).
                for rec in claimed:
                    k._held[rec.id] = rec
                for rec in claimed:
                    k.executor.launch(rec, await k.store.load_journal(rec.id))
            except FencedOut:
                await self.fenced()
            except Exception as exc:  # a busy database: try again next tick
                _unless_cancelled()
                log.warning("claiming runs failed: %s", exc)

    async def _housekeeping(self) -> None:
        k = self.kernel
        every = max(k.lease_ttl / 3, 0.05)
        last_renew = time.monotonic()
        while True:
            _unless_cancelled()  # a driver may have swallowed it in the last round
            await asyncio.sleep(min(every, k.poll_interval))
            try:
                if time.monotonic() - last_renew >= every:
                    last_renew = time.monotonic()
                    if not await k.store.workers.renew(k.worker_id, time.time() + k.lease_ttl):
                        await self.fenced()
                        continue
                for rid in await k.store.cancel_requests(k.worker_id):
                    k._cancel_local(rid)
            except Exception as exc:
                _unless_cancelled()
                log.warning("housekeeping failed: %s", exc)

    async def fenced(self) -> None:
        """Another worker declared us dead and took our runs: drop them all."""
        k = self.kernel
        log.error("worker %s was fenced; abandoning %d runs", k.worker_id, len(k._active))
        tasks = list(k._active.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        k._active.clear()
        k._reserved.clear()
        for rid in list(k._held):
            k._notify(rid)
        await k.journal.close()
        k.worker_id = k.new_id("w-")
        k.claims.clear()
        k.journal = Journal(k.store, k.worker_id, k.claims, k._runs_lost)
        await self.join()

    def _on_change(self, change: Change) -> None:
        """The store says: runs of a workspace became claimable (``""``: maybe
        any), or a run ended (whoever waits here for it looks again)."""
        k = self.kernel
        if change.kind == "runnable":
            if not change.workspace or change.workspace in k.workspaces:
                k._nudge.set()
        elif change.run_id is not None and change.run_id not in k._held:
            for fut in k._waiters.get(change.run_id, ()):
                if not fut.done():
                    fut.set_result(None)


def _unless_cancelled() -> None:
    """Raise CancelledError when the current task is being cancelled. A
    database driver may turn the cancellation of a query into an error of
    its own (psycopg does): a loop that logs errors and goes on would swallow
    the stop, and the worker's stop would wait on it for ever (seen on
    PostgreSQL under load: ``async with runtime`` never returned)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
