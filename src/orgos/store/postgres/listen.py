"""LISTEN/NOTIFY: how a PostgreSQL store tells its workers that runs changed.

Triggers on ``runs`` (``orgos.store.schema``) announce, on the schema's
channel, a run that became claimable (``q <workspace>``) and a run that
ended (``e <workspace> <run id>``), in the transaction that changed it, so
the announcement is sent only once the change is committed. One connection
per store listens and calls the store's listeners on the event loop.

A listener that lost its connection reconnects, then tells its listeners
that anything may have changed (a ``runnable`` change of workspace ``""``):
announcements sent meanwhile were missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from orgos.errors import StoreError
from orgos.store.base import Change, Listener
from orgos.store.postgres.connect import Target, connect

log = logging.getLogger("orgos.store")


def parse(payload: str) -> Change | None:
    kind, _, rest = payload.partition(" ")
    if kind == "q":
        return Change("runnable", rest)
    if kind == "e":
        ws, _, run_id = rest.rpartition(" ")
        return Change("ended", ws, run_id)
    return None


class Announcements:
    """The listening connection of one store and the listeners it calls."""

    def __init__(self, target: Target):
        self._target = target
        self._listeners: list[Listener] = []
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        #: Set once LISTEN is in effect (the first time, and after each reconnect).
        self.ready = asyncio.Event()

    def add(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return stop

    async def start(self) -> None:
        self._conn = await self._listen()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="orgos-pg-listen")

    async def _listen(self) -> psycopg.AsyncConnection[Any]:
        conn = await connect(self._target)
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._target.channel)))
        self.ready.set()
        return conn

    def _tell(self, change: Change) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception as exc:  # one listener's bug must not stop the others
                log.error("a store listener failed on %s: %s", change, exc)

    async def _loop(self) -> None:
        delay = 0.05
        while True:
            conn = self._conn
            try:
                if conn is None:
                    conn = self._conn = await self._listen()
                    self._tell(Change("runnable", ""))
                    delay = 0.05
                async for n in conn.notifies():
                    change = parse(n.payload)
                    if change is not None:
                        self._tell(change)
            except (psycopg.Error, StoreError, OSError) as exc:
                log.warning("listening to %s failed (%s); reconnecting", self._target.shown, exc)
                self.ready.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                self._conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
        self._listeners.clear()
