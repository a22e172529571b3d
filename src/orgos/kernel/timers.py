"""Timed wake-ups: a run parked with a deadline (``wait_any(..., until=)``)
holds no task, so a timer of the worker that parked it makes it runnable
when the deadline passes. After a restart a worker re-arms the timers of the
parked runs it finds; the store's wake check also honours passed deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection

from orgos.store.base import RunFilter, RunStatus, Store
from orgos.store.waiting import WaitRuns

log = logging.getLogger("orgos.kernel")


class WakeTimers:
    def __init__(self, store: Store, woke: Callable[[], None]):
        self._store = store
        self._woke = woke
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def arm(self, workspace: str, run_id: str, until: float) -> None:
        old = self._timers.pop(run_id, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(run_id, None)
            task = loop.create_task(self._wake(workspace, run_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._timers[run_id] = loop.call_later(max(0.0, until - time.time()) + 0.001, fire)

    async def _wake(self, workspace: str, run_id: str) -> None:
        try:
            if await self._store.wake_if_ready(workspace, run_id):
                self._woke()
        except Exception as exc:  # the sweep at the next start wakes it
            log.warning("waking %s failed: %s", run_id, exc)

    async def arm_parked(self, workspaces: Collection[str]) -> None:
        """Timers for the runs of ``workspaces`` parked with a deadline."""
        for workspace in workspaces:
            parked = await self._store.list_runs(
                RunFilter(workspace, statuses=[RunStatus.WAITING], limit=1_000_000)
            )
            for rec in parked:
                w = rec.waiting_on
                if type(w) is WaitRuns and w.until is not None:
                    self.arm(workspace, rec.id, w.until)

    async def close(self) -> None:
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()
        for t in list(self._tasks):
            t.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
