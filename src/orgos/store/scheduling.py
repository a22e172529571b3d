"""Store side of the scheduler: list claimable runs, claim chosen ones.

The same rules as ``claim_runs``: a run is claimable when it is queued and
unowned, or unfinished and owned by a fenced worker; claiming fences workers
whose lease ran out, and bumps each claimed run's fence token."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from orgos.errors import FencedOut
from orgos.store.base import RunRecord, Store
from orgos.store.sqlite import _RUN_COLS, SQLiteStore, _run_from_row

_CLAIMABLE = (
    "status IN ('queued','running') AND"
    " (owner IS NULL OR owner NOT IN (SELECT id FROM workers WHERE fenced=0))"
)


@dataclass(slots=True, frozen=True)
class Candidate:
    id: str
    kind: str
    target: str
    priority: int
    created_at: float


class ClaimSource(Protocol):
    """Where the scheduler finds and claims queued runs (a store backend)."""

    async def candidates(self, limit: int, roots: Collection[str] | None) -> list[Candidate]: ...

    async def claim(self, worker_id: str, run_ids: list[str], now: float) -> list[RunRecord]: ...


class SQLiteClaims:
    def __init__(self, store: SQLiteStore):
        self._store = store

    async def candidates(self, limit: int, roots: Collection[str] | None) -> list[Candidate]:
        if roots is not None and not roots:
            return []
        only = "" if roots is None else f" AND root_id IN ({','.join('?' * len(roots))})"
        args = [] if roots is None else list(roots)
        rows = (
            self._store._read()
            .execute(
                f"SELECT id, kind, target, priority, created_at FROM runs WHERE {_CLAIMABLE}"
                f"{only} ORDER BY priority DESC, created_at LIMIT ?",
                (*args, limit),
            )
            .fetchall()
        )
        return [Candidate(r[0], r[1], r[2], int(r[3]), float(r[4])) for r in rows]

    async def claim(self, worker_id: str, run_ids: list[str], now: float) -> list[RunRecord]:
        def apply(conn: sqlite3.Connection) -> list[RunRecord]:
            me = conn.execute("SELECT fenced FROM workers WHERE id=?", (worker_id,)).fetchone()
            if me is None or me[0]:
                raise FencedOut(f"worker {worker_id} has been fenced")
            conn.execute("UPDATE workers SET fenced=1 WHERE lease_until < ? AND fenced=0", (now,))
            out: list[RunRecord] = []
            for rid in run_ids:  # still claimable? another worker may have been quicker
                cur = conn.execute(
                    "UPDATE runs SET owner=?, fence=fence+1, status='running', updated_at=?"
                    f" WHERE id=? AND {_CLAIMABLE}",
                    (worker_id, now, rid),
                )
                if cur.rowcount:
                    row = conn.execute(
                        f"SELECT {_RUN_COLS} FROM runs WHERE id=?", (rid,)
                    ).fetchone()
                    out.append(_run_from_row(row))
            return out

        return await self._store._transact(apply)


def claim_source(store: Store) -> ClaimSource | None:
    return SQLiteClaims(store) if isinstance(store, SQLiteStore) else None
