"""The bus's tables on a SQLite store: events, subscribers' cursors, and the
runs parked until an event lands on a topic.

Event ids come from one AUTOINCREMENT sequence and SQLite commits one writer
at a time, so ids grow in commit order: a cursor (the last id a subscriber
acknowledged) never skips an event committed after it."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from orgos.store.rows import _dumps, _loads
from orgos.store.sqlite import SQLiteStore


@dataclass(slots=True, frozen=True)
class BusEvent:
    id: int
    topic: str
    data: Any
    source: str | None
    run_id: str | None
    key: str | None
    ts: float
    #: Published by a run that had read untrusted content.
    tainted: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "topic": self.topic, "data": self.data, "source": self.source,
             "run_id": self.run_id, "key": self.key, "ts": self.ts}  # fmt: skip
        if self.tainted:
            d["tainted"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BusEvent:
        return cls(d["id"], d["topic"], d.get("data"), d.get("source"), d.get("run_id"),
                   d.get("key"), d.get("ts", 0.0), bool(d.get("tainted")))  # fmt: skip


_COLS = "id, topic, data, source, run_id, key, ts, tainted"


def _event(r: tuple[Any, ...]) -> BusEvent:
    return BusEvent(r[0], r[1], _loads(r[2]), r[3], r[4], r[5], r[6], bool(r[7]))


def insert_event(
    conn: sqlite3.Connection,
    workspace: str,
    topic: str,
    data: Any,
    *,
    source: str | None = None,
    run_id: str | None = None,
    key: str | None = None,
    tainted: bool = False,
) -> tuple[int, bool]:
    """Insert an event inside the caller's transaction and wake the runs
    parked on its topic. Returns (id, new): a key seen before returns the
    first event's id and False. ``tainted``: the publishing run had read
    untrusted content."""
    if key is not None:
        row = conn.execute(
            "SELECT id FROM bus_events WHERE workspace=? AND topic=? AND key=?",
            (workspace, topic, key),
        ).fetchone()
        if row is not None:
            return row[0], False
    cur = conn.execute(
        "INSERT INTO bus_events (workspace, topic, data, source, run_id, key, ts, tainted)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (workspace, topic, _dumps(data), source, run_id, key, time.time(), 1 if tainted else 0),
    )
    wake_waiters(conn, workspace, topic)
    return int(cur.lastrowid or 0), True


def wake_waiters(conn: sqlite3.Connection, workspace: str, topic: str) -> int:
    """Queue the parked runs waiting on ``topic`` (they replay and look)."""
    cur = conn.execute(
        "UPDATE runs SET status='queued', owner=NULL, updated_at=? WHERE status='waiting'"
        " AND id IN (SELECT run_id FROM bus_waits WHERE workspace=? AND topic=?)",
        (time.time(), workspace, topic),
    )
    return cur.rowcount


class BusTable:
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def publish(
        self,
        workspace: str,
        topic: str,
        data: Any,
        *,
        source: str | None = None,
        run_id: str | None = None,
        key: str | None = None,
        tainted: bool = False,
    ) -> tuple[int, bool]:
        def apply(conn: sqlite3.Connection) -> tuple[int, bool]:
            return insert_event(conn, workspace, topic, data, source=source, run_id=run_id,
                                key=key, tainted=tainted)  # fmt: skip

        return await self.store._transact(apply)

    async def publish_many(
        self, workspace: str, topic: str, items: list[tuple[Any, str | None]], source: str
    ) -> list[int]:
        """Several events (data, key) in one transaction."""

        def apply(conn: sqlite3.Connection) -> list[int]:
            return [
                insert_event(conn, workspace, topic, d, source=source, key=k)[0] for d, k in items
            ]

        return await self.store._transact(apply)

    def last_id(self, workspace: str, topic: str) -> int:
        row = (
            self.store._read()
            .execute(
                "SELECT MAX(id) FROM bus_events WHERE workspace=? AND topic=?", (workspace, topic)
            )
            .fetchone()
        )
        return int(row[0] or 0)

    def after(self, workspace: str, topic: str, after: int, limit: int = 100) -> list[BusEvent]:
        rows = self.store._read().execute(
            f"SELECT {_COLS} FROM bus_events WHERE workspace=? AND topic=? AND id>?"
            " ORDER BY id LIMIT ?",
            (workspace, topic, after, limit),
        )
        return [_event(r) for r in rows]

    def get(self, workspace: str, event_id: int) -> BusEvent | None:
        row = (
            self.store._read()
            .execute(
                f"SELECT {_COLS} FROM bus_events WHERE workspace=? AND id=?", (workspace, event_id)
            )
            .fetchone()
        )
        return None if row is None else _event(row)

    def acked(self, workspace: str, subscriber: str, topic: str) -> int | None:
        row = (
            self.store._read()
            .execute(
                "SELECT acked FROM bus_cursors WHERE workspace=? AND subscriber=? AND topic=?",
                (workspace, subscriber, topic),
            )
            .fetchone()
        )
        return None if row is None else int(row[0])

    async def set_cursor(
        self, workspace: str, subscriber: str, topic: str, acked: int, *, only_new: bool = False
    ) -> None:
        """Move the cursor forward (never back). ``only_new``: create it if
        missing, leave an existing one alone."""
        sql = (
            "INSERT INTO bus_cursors (workspace, subscriber, topic, acked) VALUES (?,?,?,?)"
            " ON CONFLICT (workspace, subscriber, topic) DO "
            + ("NOTHING" if only_new else "UPDATE SET acked=MAX(acked, excluded.acked)")
        )

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(sql, (workspace, subscriber, topic, acked))

        await self.store._write(apply)

    async def park(self, workspace: str, run_id: str, topic: str, after: int) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO bus_waits (run_id, workspace, topic, after)"
                " VALUES (?,?,?,?)",
                (run_id, workspace, topic, after),
            )

        await self.store._write(apply)

    async def unpark(self, run_id: str) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM bus_waits WHERE run_id=?", (run_id,))

        await self.store._write(apply)

    async def wake_if_event(self, workspace: str, run_id: str) -> bool:
        """A parked run whose topic got an event after its mark: queue it.
        Closes the race between parking and a publish that came meanwhile."""

        def apply(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE runs SET status='queued', owner=NULL, updated_at=? WHERE id=? AND"
                " workspace=? AND status='waiting' AND EXISTS (SELECT 1 FROM bus_waits w"
                " JOIN bus_events e ON e.workspace=w.workspace AND e.topic=w.topic"
                " AND e.id>w.after WHERE w.run_id=?)",
                (time.time(), run_id, workspace, run_id),
            )
            return cur.rowcount == 1

        return await self.store._write(apply)

    async def wake_all(self, workspace: str) -> int:
        """Sweep at start: every parked run of ``workspace`` whose topic has a
        new event."""

        def apply(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE runs SET status='queued', owner=NULL, updated_at=? WHERE"
                " status='waiting' AND workspace=? AND id IN (SELECT w.run_id FROM bus_waits w"
                " JOIN bus_events e ON e.workspace=w.workspace AND e.topic=w.topic"
                " AND e.id>w.after WHERE w.workspace=?)",
                (time.time(), workspace, workspace),
            )
            return cur.rowcount

        return await self.store._write(apply)
