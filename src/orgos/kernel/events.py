"""Live events for whoever watches a run: tokens, syscalls, status changes.

Only live: what is durable is in the journal. A slow watcher drops events
rather than slowing the runs down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Streamed text held back for redaction is let go at this size even without
#: a line end (a pattern split there may then slip through).
HOLD_MAX = 4096


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
        #: Set by governance: applied to every event's data before a watcher
        #: sees it (PII redaction). Streamed tokens are then passed on a line
        #: at a time (and when the model call ends), so a pattern is never
        #: split across two events.
        self.redact: Callable[[Any], Any] | None = None
        self._held: dict[str, str] = {}

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
        if not self._subs and not self._all:
            self._held.clear()

    def publish(self, event: Event) -> None:
        if self.redact is not None:
            redacted = self._redacted(event, self.redact)
            if redacted is None:
                return
            event = redacted
        self._deliver(event)

    def _redacted(self, e: Event, redact: Callable[[Any], Any]) -> Event | None:
        if e.type == "token":
            text = self._held.pop(e.run_id, "") + str(e.data.get("text", ""))
            cut = text.rfind("\n") + 1 if len(text) < HOLD_MAX else len(text)
            if cut < len(text):
                self._held[e.run_id] = text[cut:]
            if cut == 0:
                return None
            return Event(e.run_id, e.root_id, "token", {"text": redact(text[:cut])})
        held = self._held.pop(e.run_id, None)
        if held:  # the model call ended: its last line goes first
            self._deliver(Event(e.run_id, e.root_id, "token", {"text": redact(held)}))
        return Event(e.run_id, e.root_id, e.type, redact(e.data))

    def _deliver(self, event: Event) -> None:
        for q in (*self._subs.get(event.root_id, ()), *self._all):
            if not q.full():
                q.put_nowait(event)
