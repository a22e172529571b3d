"""The run-side repositories of a PostgreSQL store (scheduling, children,
loads) and the bus (``orgos.store.repos``); the others have a module each
in this package."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from orgos.store.base import RunRecord, RunStatus
from orgos.store.outcome import RunOutcome
from orgos.store.postgres import claims
from orgos.store.postgres.rows import SEQ_LOCK, TERMINAL_SQL
from orgos.store.records import BusEvent, Candidate, Published
from orgos.store.rows import _dumps, _loads

if TYPE_CHECKING:
    from orgos.store.postgres.store import PostgresStore

Cursor = psycopg.AsyncCursor[Any]


class PgScheduling:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def candidates(
        self, limit: int, roots: Collection[str] | None, workspaces: Collection[str]
    ) -> list[Candidate]:
        if roots is not None and not roots:
            return []
        only, args = claims.scope(workspaces, roots)
        rows = await self._db._all(
            f"SELECT id, kind, target, priority, created_at FROM runs WHERE {claims.CLAIMABLE}"
            f"{only} ORDER BY priority DESC, created_at LIMIT %s",
            (*args, limit),
        )
        return [Candidate(r[0], r[1], r[2], int(r[3]), float(r[4])) for r in rows]

    async def claim(
        self, worker_id: str, run_ids: list[str], now: float, workspaces: Collection[str]
    ) -> list[RunRecord]:
        async with self._db.transaction() as cur:
            await claims.start_claim(cur, worker_id, now)
            return await claims.take(cur, worker_id, now, run_ids, workspaces)


class PgChildren:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def ended(self, workspace: str, run_ids: list[str]) -> list[RunOutcome]:
        rows = await self._db._all(
            "SELECT id, target, status, output, error, tainted FROM runs WHERE workspace=%s"
            f" AND status IN {TERMINAL_SQL} AND id = ANY(%s)",
            (workspace, run_ids),
        )
        return [RunOutcome(r[0], r[1], RunStatus(r[2]), _loads(r[3]), r[4], bool(r[5]))
                for r in rows]  # fmt: skip


class PgLoads:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def active_runs(self, workspace: str, agents: Sequence[str]) -> dict[str, int]:
        if not agents:
            return {}
        rows = await self._db._all(
            "SELECT target, COUNT(*) FROM runs WHERE status IN ('queued','running')"
            " AND workspace=%s AND kind='agent' AND target = ANY(%s) GROUP BY target",
            (workspace, list(agents)),
        )
        counts = {a: 0 for a in agents}
        counts.update({str(t): int(n) for t, n in rows})
        return counts


_EVENT_COLS = "id, topic, data, source, run_id, key, ts, tainted"


def _event(r: tuple[Any, ...]) -> BusEvent:
    return BusEvent(r[0], r[1], _loads(r[2]), r[3], r[4], r[5], r[6], bool(r[7]))


async def insert_event(
    cur: Cursor, workspace: str, topic: str, data: Any, *, source: str | None = None,
    run_id: str | None = None, key: str | None = None, tainted: bool = False,
) -> Published:  # fmt: skip
    """An event in the caller's transaction; the runs parked on its topic are
    queued (the runs trigger announces them)."""
    # Ids commit in order (a cursor past N never misses N-1), and two
    # publishers of one key see each other: the lock comes first.
    await cur.execute(SEQ_LOCK)
    if key is not None:
        await cur.execute(
            "SELECT id FROM bus_events WHERE workspace=%s AND topic=%s AND key=%s",
            (workspace, topic, key),
        )
        row = await cur.fetchone()
        if row is not None:
            return Published(int(row[0]), False)
    now = time.time()
    await cur.execute(
        "INSERT INTO bus_events (workspace, topic, data, source, run_id, key, ts, tainted)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
        (workspace, topic, _dumps(data), source, run_id, key, now, 1 if tainted else 0),
    )
    row = await cur.fetchone()
    await cur.execute(
        "UPDATE runs SET status='queued', owner=NULL, updated_at=%s WHERE status='waiting'"
        " AND id IN (SELECT run_id FROM bus_waits WHERE workspace=%s AND topic=%s)",
        (now, workspace, topic),
    )
    assert row is not None
    return Published(int(row[0]), True)


_WAKE = (
    "UPDATE runs SET status='queued', owner=NULL, updated_at=%s WHERE status='waiting'"
    " AND workspace=%s AND id IN (SELECT w.run_id FROM bus_waits w JOIN bus_events e"
    " ON e.workspace=w.workspace AND e.topic=w.topic AND e.id>w.after WHERE w.workspace=%s"
)


class PgBus:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def publish(
        self, workspace: str, topic: str, data: Any, *, source: str | None = None,
        run_id: str | None = None, key: str | None = None, tainted: bool = False,
    ) -> Published:  # fmt: skip
        async with self._db.transaction() as cur:
            return await insert_event(cur, workspace, topic, data, source=source,
                                      run_id=run_id, key=key, tainted=tainted)  # fmt: skip

    async def publish_many(
        self, workspace: str, topic: str, items: list[tuple[Any, str | None]], source: str
    ) -> list[int]:
        async with self._db.transaction() as cur:
            return [
                (await insert_event(cur, workspace, topic, d, source=source, key=k)).id
                for d, k in items
            ]

    async def last_id(self, workspace: str, topic: str) -> int:
        row = await self._db._one(
            "SELECT MAX(id) FROM bus_events WHERE workspace=%s AND topic=%s", (workspace, topic)
        )
        return int(row[0] or 0)

    async def after(
        self, workspace: str, topic: str, after: int, limit: int = 100
    ) -> list[BusEvent]:
        rows = await self._db._all(
            f"SELECT {_EVENT_COLS} FROM bus_events WHERE workspace=%s AND topic=%s AND id>%s"
            " ORDER BY id LIMIT %s",
            (workspace, topic, after, limit),
        )
        return [_event(r) for r in rows]

    async def get(self, workspace: str, event_id: int) -> BusEvent | None:
        row = await self._db._one(
            f"SELECT {_EVENT_COLS} FROM bus_events WHERE workspace=%s AND id=%s",
            (workspace, event_id),
        )
        return None if row is None else _event(row)

    async def acked(self, workspace: str, subscriber: str, topic: str) -> int | None:
        row = await self._db._one(
            "SELECT acked FROM bus_cursors WHERE workspace=%s AND subscriber=%s AND topic=%s",
            (workspace, subscriber, topic),
        )
        return None if row is None else int(row[0])

    async def set_cursor(
        self, workspace: str, subscriber: str, topic: str, acked: int, *, only_new: bool = False
    ) -> None:
        then = (
            "NOTHING"
            if only_new
            else "UPDATE SET acked=GREATEST(bus_cursors.acked, EXCLUDED.acked)"
        )
        await self._db._exec(
            "INSERT INTO bus_cursors (workspace, subscriber, topic, acked) VALUES (%s,%s,%s,%s)"
            f" ON CONFLICT (workspace, subscriber, topic) DO {then}",
            (workspace, subscriber, topic, acked),
        )

    async def park(self, workspace: str, run_id: str, topic: str, after: int) -> None:
        await self._db._exec(
            "INSERT INTO bus_waits (run_id, workspace, topic, after) VALUES (%s,%s,%s,%s)"
            " ON CONFLICT (run_id) DO UPDATE SET workspace=EXCLUDED.workspace,"
            " topic=EXCLUDED.topic, after=EXCLUDED.after",
            (run_id, workspace, topic, after),
        )

    async def unpark(self, workspace: str, run_id: str) -> None:
        await self._db._exec(
            "DELETE FROM bus_waits WHERE run_id=%s AND workspace=%s", (run_id, workspace)
        )

    async def wake_if_event(self, workspace: str, run_id: str) -> bool:
        n = await self._db._exec(_WAKE + " AND w.run_id=%s) AND id=%s",
                                 (time.time(), workspace, workspace, run_id, run_id))  # fmt: skip
        return n == 1

    async def wake_all(self, workspace: str) -> int:
        return await self._db._exec(_WAKE + ")", (time.time(), workspace, workspace))
