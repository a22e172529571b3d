"""Store queries routing needs (SQLite): how much work each agent has now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore


class SQLiteLoads:
    """``LoadRepo`` on SQLite (reads through the store's reader connection)."""

    def __init__(self, db: SQLiteStore):
        self._db = db

    async def active_runs(self, workspace: str, agents: Sequence[str]) -> dict[str, int]:
        if not agents:
            return {}
        marks = ",".join("?" * len(agents))
        rows = (
            self._db._read()
            .execute(
                "SELECT target, COUNT(*) FROM runs WHERE status IN ('queued','running')"
                f" AND workspace=? AND kind='agent' AND target IN ({marks}) GROUP BY target",
                (workspace, *agents),
            )
            .fetchall()
        )
        counts = {a: 0 for a in agents}
        counts.update({str(t): int(n) for t, n in rows})
        return counts
