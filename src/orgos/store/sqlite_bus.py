"""The bus's tables on SQLite: events, subscribers' cursors, and the runs
parked until an event lands on a topic.

Event ids come from one AUTOINCREMENT sequence and SQLite commits one writer
at a time, so ids grow in commit order: a cursor (the last id a subscriber
acknowledged) never skips an event committed after it."""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

from orgos.store.records import BusEvent, Published
from orgos.store.rows import _dumps, _loads

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore

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
) -> Published:
    """Insert an event inside the caller's transaction and wake the runs
    parked on its topic. A key seen before returns the first event's id."""
    if key is not None:
        row = conn.execute(
            "SELECT id FROM bus_events WHERE workspace=? AND topic=? AND key=?",
            (workspace, topic, key),
        ).fetchone()
        if row is not None:
            return Published(row[0], False)
    cur = conn.execute(
        "INSERT INTO bus_events (workspace, topic, data, source, run_id, key, ts, tainted)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (workspace, topic, _dumps(data), source, run_id, key, time.time(), 1 if tainted else 0),
    )
    wake_waiters(conn, workspace, topic)
    return Published(int(cur.lastrowid or 0), True)


def wake_waiters(conn: sqlite3.Connection, workspace: str, topic: str) -> int:
    """Queue the parked runs waiting on ``topic`` (they replay and look)."""
    cur = conn.execute(
        "UPDATE runs SET status='queued', owner=NULL, updated_at=? WHERE status='waiting'"
        " AND id IN (SELECT run_id FROM bus_waits WHERE workspace=? AND topic=?)",
        (time.time(), workspace, topic),
    )
    return cur.rowcount


class SQLiteBus:
    def __init__(self, db: SQLiteStore) -> None:
        self._db = db

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
    ) -> Published:
        def apply(conn: sqlite3.Connection) -> Published:
            return insert_event(conn, workspace, topic, data, source=source, run_id=run_id,
                                key=key, tainted=tainted)  # fmt: skip

        return await self._db._transact(apply)

    async def publish_many(
        self, workspace: str, topic: str, items: list[tuple[Any, str | None]], source: str
    ) -> list[int]:
        def apply(conn: sqlite3.Connection) -> list[int]:
            return [
                insert_event(conn, workspace, topic, d, source=source, key=k).id for d, k in items
            ]

        return await self._db._transact(apply)

    async def last_id(self, workspace: str, topic: str) -> int:
        row = (
            self._db._read()
            .execute(
                "SELECT MAX(id) FROM bus_events WHERE workspace=? AND topic=?", (workspace, topic)
            )
            .fetchone()
        )
        return int(row[0] or 0)

    async def after(
        self, workspace: str, topic: str, after: int, limit: int = 100
    ) -> list[BusEvent]:
        rows = self._db._read().execute(
            f"SELECT {_COLS} FROM bus_events WHERE workspace=? AND topic=? AND id>?"
            " ORDER BY id LIMIT ?",
            (workspace, topic, after, limit),
        )
        return [_event(r) for r in rows]

    async def get(self, workspace: str, event_id: int) -> BusEvent | None:
        row = (
            self._db._read()
            .execute(
                f"SELECT {_COLS} FROM bus_events WHERE workspace=? AND id=?", (workspace, event_id)
            )
            .fetchone()
        )
        return None if row is None else _event(row)

    async def acked(self, workspace: str, subscriber: str, topic: str) -> int | None:
        row = (
            self._db._read()
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
        sql = (
            "INSERT INTO bus_cursors (workspace, subscriber, topic, acked) VALUES (?,?,?,?)"
            " ON CONFLICT (workspace, subscriber, topic) DO "
            + ("NOTHING" if only_new else "UPDATE SET acked=MAX(acked, excluded.acked)")
        )

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(sql, (workspace, subscriber, topic, acked))

        await self._db._write(apply)

    async def park(self, workspace: str, run_id: str, topic: str, after: int) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO bus_waits (run_id, workspace, topic, after)"
                " VALUES (?,?,?,?)",
                (run_id, workspace, topic, after),
            )

        await self._db._write(apply)

    async def unpark(self, workspace: str, run_id: str) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM bus_waits WHERE run_id=? AND workspace=?", (run_id, workspace)
            )

        await self._db._write(apply)

    async def wake_if_event(self, workspace: str, run_id: str) -> bool:
        """Closes the race between parking and a publish that came meanwhile."""

        def apply(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE runs SET status='queued', owner=NULL, updated_at=? WHERE id=? AND"
                " workspace=? AND status='waiting' AND EXISTS (SELECT 1 FROM bus_waits w"
                " JOIN bus_events e ON e.workspace=w.workspace AND e.topic=w.topic"
                " AND e.id>w.after WHERE w.run_id=?)",
                (time.time(), run_id, workspace, run_id),
            )
            return cur.rowcount == 1

        return await self._db._write(apply)

    async def wake_all(self, workspace: str) -> int:
        def apply(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE runs SET status='queued', owner=NULL, updated_at=? WHERE"
                " status='waiting' AND workspace=? AND id IN (SELECT w.run_id FROM bus_waits w"
                " JOIN bus_events e ON e.workspace=w.workspace AND e.topic=w.topic"
                " AND e.id>w.after WHERE w.workspace=?)",
                (time.time(), workspace, workspace),
            )
            return cur.rowcount

        return await self._db._write(apply)
