"""Store side of the scheduler: list claimable runs, claim chosen ones.

The same rules as ``claim_runs``: a run is claimable when it is queued and
unowned, or unfinished and owned by a fenced worker; claiming fences workers
whose lease ran out, and bumps each claimed run's fence token. Both name the
worker's workspaces: it never sees another workspace's runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import TYPE_CHECKING

from orgos.store.base import RunRecord
from orgos.store.claims import CLAIMABLE, scope, start_claim, take_runs
from orgos.store.records import Candidate

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore


class SQLiteClaims:
    """``SchedulingRepo`` on SQLite."""

    def __init__(self, store: SQLiteStore):
        self._store = store

    async def candidates(
        self, limit: int, roots: Collection[str] | None, workspaces: Collection[str]
    ) -> list[Candidate]:
        if roots is not None and not roots:
            return []
        only, args = scope(workspaces, roots)
        rows = (
            self._store._read()
            .execute(
                f"SELECT id, kind, target, priority, created_at FROM runs WHERE {CLAIMABLE}"
                f"{only} ORDER BY priority DESC, created_at LIMIT ?",
                (*args, limit),
            )
            .fetchall()
        )
        return [Candidate(r[0], r[1], r[2], int(r[3]), float(r[4])) for r in rows]

    async def claim(
        self, worker_id: str, run_ids: list[str], now: float, workspaces: Collection[str]
    ) -> list[RunRecord]:
        def apply(conn: sqlite3.Connection) -> list[RunRecord]:
            start_claim(conn, worker_id, now)
            return take_runs(conn, worker_id, now, run_ids, workspaces)

        return await self._store._transact(apply)
