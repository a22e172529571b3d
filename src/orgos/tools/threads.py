"""The threads a runtime's sync tools run in: its own, not asyncio's default
pool, and a hung tool cannot starve the others.

A Python thread cannot be killed, so a sync tool that hangs keeps its thread
until it returns. In a fixed pool (asyncio's default has ``cpu + 4``
threads) a few hung tools take every thread, and every later call waits
behind them until its own timeout. Here a call whose caller gave up (its
timeout) stops counting against the limit: the pool may start another
thread, so the calls behind it still run. The threads are daemons and the
pool is shut down when its kernel stops: idle threads end, a hung one ends
when its tool returns, and none keeps the process from exiting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

#: As many threads as asyncio's default pool (and never fewer than 8):
#: sync tools mostly wait on I/O.
DEFAULT_LIMIT = max(8, min(32, (os.cpu_count() or 1) + 4))


class _Call:
    __slots__ = ("abandoned", "fn", "future", "running")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.running = False
        #: Its caller stopped waiting (a timeout, a cancel) before it returned.
        self.abandoned = False


class ToolThreads:
    """A pool of up to ``limit`` threads busy with calls someone waits for,
    plus the threads of calls given up on, until they return."""

    def __init__(self, limit: int = DEFAULT_LIMIT, name: str = "orgos-tool") -> None:
        self.limit = limit
        self.name = name
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0  # alive
        self._idle = 0  # waiting for a call
        self._queued = 0  # calls not yet taken by a thread
        self._given_up = 0  # threads busy with a call given up on
        self._count = 0
        self.closed = False

    async def run(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """``fn(**kwargs)`` in a thread of the pool, in the caller's context
        (like ``asyncio.to_thread``). Cancelling the wait (a timeout) gives
        the call up: its thread no longer counts against the limit."""
        ctx = contextvars.copy_context()
        call = _Call(functools.partial(ctx.run, fn, **kwargs))
        with self._lock:
            if self.closed:
                raise RuntimeError("the tool threads are shut down (their kernel stopped)")
            self._queued += 1
            name = self._spawn_name()
        self._queue.put(call)
        self._start(name)
        try:
            return await asyncio.wrap_future(call.future)
        finally:
            if not call.future.done():
                with self._lock:
                    call.abandoned = True
                    name = None
                    if call.running:
                        self._given_up += 1
                        name = self._spawn_name()
                self._start(name)

    def _spawn_name(self) -> str | None:
        """Under the lock: a new thread's name when a call waits with no
        thread free and the threads that count are under the limit."""
        if self.closed or self._queued <= self._idle:
            return None
        if self._threads - self._given_up >= self.limit:
            return None
        self._threads += 1
        self._count += 1
        return f"{self.name}-{self._count}"

    def _start(self, name: str | None) -> None:
        if name is not None:
            threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            call = self._queue.get()
            with self._lock:
                self._idle -= 1
                if call is None:
                    self._threads -= 1
                    return
                self._queued -= 1
                skip = call.abandoned
                call.running = not skip
            if skip or not call.future.set_running_or_notify_cancel():
                call.future.cancel()
                continue
            try:
                result = call.fn()
            except BaseException as exc:  # the tool's failure is its call's
                call.future.set_exception(exc)
            else:
                call.future.set_result(result)
            with self._lock:
                call.running = False
                if call.abandoned:
                    self._given_up -= 1
                # Shut down, or over the limit (another started while this one hung).
                if self.closed or self._threads - self._given_up > self.limit:
                    self._threads -= 1
                    return

    @property
    def threads(self) -> int:
        """Threads alive (busy, idle, or busy with calls given up on)."""
        return self._threads

    def shutdown(self) -> None:
        """No new calls; idle threads end now, busy ones when their call
        returns; calls no thread took yet are cancelled. Never waits."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            idle = self._idle
        while True:
            try:
                call = self._queue.get_nowait()
            except queue.Empty:
                break
            if call is not None:
                with self._lock:
                    self._queued -= 1
                call.future.cancel()
        for _ in range(idle + 1):
            self._queue.put(None)
