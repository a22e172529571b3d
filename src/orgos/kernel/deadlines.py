"""Cheap timeouts for many concurrent calls.

``asyncio.timeout`` puts a timer in the loop's heap for every call; with ten
thousand runs in flight each arm and disarm costs a heap operation whose
comparisons run in Python. Every syscall has a timeout, so the kernel uses
this wheel instead: deadlines fall into buckets of ``resolution`` seconds, one
ticker task expires whole buckets, arming and disarming are set operations.
A timeout fires up to one resolution late, which is fine for timeouts of
seconds; ``asyncio.timeout`` is still used for short ones.
"""

from __future__ import annotations

import asyncio
import math
from asyncio import current_task
from contextlib import AbstractAsyncContextManager
from time import monotonic
from types import TracebackType
from typing import Any, cast


class _Guard:
    __slots__ = ("expired", "task")

    def __init__(self, task: asyncio.Task[Any]):
        self.task = task
        self.expired = False


class _Scope:
    """An async context manager without coroutines: entering and leaving
    return an already-finished future, so ``async with`` never suspends and
    costs no coroutine frames (this runs twice per syscall)."""

    __slots__ = ("_d", "_guard", "_seconds", "_slot")

    def __init__(self, d: Deadlines, seconds: float):
        self._d = d
        self._seconds = seconds

    def __aenter__(self) -> asyncio.Future[None]:
        d = self._d
        task = current_task()
        assert task is not None
        self._guard = guard = _Guard(task)
        self._slot = slot = int((monotonic() + self._seconds) / d.resolution) + 1
        bucket = d._buckets.get(slot)
        if bucket is None:
            bucket = d._buckets[slot] = set()
            if d._ticker is None or d._ticker.done():
                d._start()
        bucket.add(guard)
        return d._done()

    def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> asyncio.Future[None]:
        guard = self._guard
        self._d._disarm(self._slot, guard)
        if typ is asyncio.CancelledError and guard.expired and guard.task.uncancel() == 0:
            raise TimeoutError from exc
        return self._d._done()


class Deadlines:
    def __init__(self, resolution: float = 0.05):
        self.resolution = resolution
        self._buckets: dict[int, set[_Guard]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._finished: asyncio.Future[None] | None = None

    def _done(self) -> asyncio.Future[None]:
        fut = self._finished
        if fut is None:
            fut = self._finished = asyncio.get_running_loop().create_future()
            fut.set_result(None)
        return fut

    def timeout(self, seconds: float | None) -> AbstractAsyncContextManager[Any]:
        """Like ``asyncio.timeout(seconds)``: raises TimeoutError on expiry."""
        if seconds is None or seconds < self.resolution * 20:
            return asyncio.timeout(seconds)
        # typeshed wants coroutines from __aenter__/__aexit__; any awaitable works.
        return cast("AbstractAsyncContextManager[Any]", _Scope(self, seconds))

    def _start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="orgos-deadlines")

    def _disarm(self, slot: int, guard: _Guard) -> None:
        b = self._buckets.get(slot)
        if b is not None:
            b.discard(guard)

    async def _tick(self) -> None:
        while self._buckets:
            await asyncio.sleep(self.resolution)
            now_slot = math.floor(monotonic() / self.resolution)
            for slot in [s for s in self._buckets if s <= now_slot]:
                for guard in self._buckets.pop(slot):
                    guard.expired = True
                    guard.task.cancel()

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
