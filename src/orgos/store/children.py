"""Which of many child runs have ended: one query, only the columns a
waiting parent reads, only the rows that ended (a workflow waiting on 1,000
branches asks this at every wake-up)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orgos.store.base import RunStatus
from orgos.store.outcome import RunOutcome
from orgos.store.rows import _TERMINAL_SQL, _loads

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore


class SQLiteEnded:
    """``ChildrenRepo`` on SQLite."""

    def __init__(self, db: SQLiteStore):
        self._db = db

    async def ended(self, workspace: str, run_ids: list[str]) -> list[RunOutcome]:
        out: list[RunOutcome] = []
        conn = self._db._read()
        for i in range(0, len(run_ids), 5000):  # SQLite bounds the number of parameters
            chunk = run_ids[i : i + 5000]
            rows = conn.execute(
                "SELECT id, target, status, output, error, tainted FROM runs WHERE workspace=? AND"
                f" status IN {_TERMINAL_SQL} AND id IN ({','.join('?' * len(chunk))})",
                (workspace, *chunk),
            ).fetchall()
            out.extend(RunOutcome(r[0], r[1], RunStatus(r[2]), _loads(r[3]), r[4], bool(r[5]))
                       for r in rows)  # fmt: skip
        return out
