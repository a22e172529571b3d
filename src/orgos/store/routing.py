"""Store queries routing needs: how much work each agent has now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from orgos.store.base import Store


class LoadSource(Protocol):
    async def active_runs(self, workspace: str, agents: Sequence[str]) -> dict[str, int]:
        """Queued and running agent runs per agent (parked ones hold no load)."""
        ...


class SQLiteLoads:
    """LoadSource over a SQLiteStore (reads through its reader connection)."""

    def __init__(self, store: Store):
        from orgos.store.sqlite import SQLiteStore

        if not isinstance(store, SQLiteStore):
            raise TypeError("SQLiteLoads needs a SQLiteStore")
        self._store = store

    async def active_runs(self, workspace: str, agents: Sequence[str]) -> dict[str, int]:
        if not agents:
            return {}
        marks = ",".join("?" * len(agents))
        rows = (
            self._store._read()
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


def load_source(store: Store) -> LoadSource | None:
    """The LoadSource for this store's backend, if it has one."""
    try:
        return SQLiteLoads(store)
    except TypeError:
        return None
