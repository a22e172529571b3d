"""Live events for whoever watches a run: tokens, syscalls, status changes.

Only live: what is durable is in the journal. A slow watcher drops events
rather than slowing the runs down."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, frozen=True)
class Event:
    run_id: str
    root_id: str
    type: str  # "token" | "syscall" | "status"
    data: dict[str, Any]


class EventHub:
    def __init__(self, queue_size: int = 10_000) -> None:
        self._subs: dict[str, list[asyncio.Queue[Event]]] = {}
        self._all: list[asyncio.Queue[Event]] = []
        self._size = queue_size

    def active(self, root_id: str) -> bool:
        return bool(self._all) or root_id in self._subs

    def subscribe(self, root_id: str | None = None) -> asyncio.Queue[Event]:
        """Events of one run tree (by its root id), or of every run when None."""
        q: asyncio.Queue[Event] = asyncio.Queue(self._size)
        if root_id is None:
            self._all.append(q)
        else:
            self._subs.setdefault(root_id, []).append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Event]) -> None:
        if q in self._all:
            self._all.remove(q)
        for key, qs in list(self._subs.items()):
            if q in qs:
                qs.remove(q)
                if not qs:
                    del self._subs[key]

    def publish(self, event: Event) -> None:
        for q in (*self._subs.get(event.root_id, ()), *self._all):
            if not q.full():
                q.put_nowait(event)
