"""Which of many child runs have ended: one query, only the columns a
waiting parent reads, only the rows that ended (a workflow waiting on 1,000
branches asks this at every wake-up)."""

from __future__ import annotations

from typing import Any, Protocol

from orgos.store.base import RunRecord, Store
from orgos.store.rows import _TERMINAL_SQL, _loads
from orgos.store.sqlite import SQLiteStore


def outcome(
    run_id: str, target: str, status: str, output: Any, error: str | None, tainted: bool
) -> dict[str, Any]:
    """How a child ended, as its parent reads it. A tainted child's outcome
    says so: the parent that reads it reads what the child read."""
    out = {"run_id": run_id, "target": target, "status": status, "output": output,
           "error": error}  # fmt: skip
    if tainted:
        out["tainted"] = True
    return out


def outcome_of(rec: RunRecord) -> dict[str, Any]:
    return outcome(rec.id, rec.target, rec.status.value, rec.output, rec.error, rec.tainted)


class EndedSource(Protocol):
    async def ended(self, workspace: str, run_ids: list[str]) -> list[dict[str, Any]]:
        """``{run_id, target, status, output, error[, tainted]}`` of those that ended."""
        ...


class SQLiteEnded:
    def __init__(self, store: SQLiteStore):
        self._store = store

    async def ended(self, workspace: str, run_ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        conn = self._store._read()
        for i in range(0, len(run_ids), 5000):  # SQLite bounds the number of parameters
            chunk = run_ids[i : i + 5000]
            rows = conn.execute(
                "SELECT id, target, status, output, error, tainted FROM runs WHERE workspace=? AND"
                f" status IN {_TERMINAL_SQL} AND id IN ({','.join('?' * len(chunk))})",
                (workspace, *chunk),
            ).fetchall()
            out.extend(outcome(r[0], r[1], r[2], _loads(r[3]), r[4], bool(r[5])) for r in rows)
        return out


def ended_source(store: Store) -> EndedSource | None:
    return SQLiteEnded(store) if isinstance(store, SQLiteStore) else None
