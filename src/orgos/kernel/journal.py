"""Group commit: many runs' journal writes share one transaction.

A run submits ops and gets the future of the batch they will be in; it awaits
that future only when it must (a result before the run sees it, an intent
before a non-idempotent effect). One writer task drains the buffer: while a
batch is being written (and, in power-safe mode, fsynced), the next one fills.
"""

from __future__ import annotations

import asyncio
import logging

from orgos.store.base import Op, Store

log = logging.getLogger("orgos.journal")


class Journal:
    def __init__(self, store: Store, worker_id: str):
        self._store = store
        self._worker_id = worker_id
        self._buf: list[Op] = []
        self._fut: asyncio.Future[None] | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        self.lazy_delay = 0.05
        self.batches = 0
        self.ops = 0
        #: The first write error, if any; the kernel stops when it is a FencedOut.
        self.error: BaseException | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._writer(), name="orgos-journal")

    def submit(self, *ops: Op, lazy: bool = False) -> asyncio.Future[None]:
        """Queue ops for the next batch; the future resolves once they are durable.

        ``lazy`` ops do not start a batch of their own: they ride with the next
        batch someone waits for, or go out after ``lazy_delay`` at the latest.
        For intents of repeatable syscalls, which need not be durable before
        the effect, this saves a commit (and in power-safe mode an fsync)."""
        if self._closed:
            raise RuntimeError("journal is closed")
        self._buf.extend(ops)
        fut = self._fut
        if fut is None:
            fut = self._fut = asyncio.get_running_loop().create_future()
            fut.add_done_callback(_retrieve)
        if not lazy:
            self._wakeup.set()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.lazy_delay, self._flush_lazy)
        return fut

    def _flush_lazy(self) -> None:
        self._timer = None
        if self._buf:
            self._wakeup.set()

    async def _writer(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._buf:
                batch, fut = self._buf, self._fut
                self._buf, self._fut = [], None
                try:
                    await self._store.write_batch(self._worker_id, batch)
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

    async def close(self) -> None:
        """Write what is buffered, then stop the writer."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None


def _retrieve(fut: asyncio.Future[None]) -> None:
    # A batch nobody awaited must not warn "exception never retrieved": the
    # error is kept in Journal.error and logged once.
    if not fut.cancelled():
        fut.exception()
