"""Reading what ran in a runtime's workspace."""

from __future__ import annotations

from collections.abc import Callable

from orgos.errors import NotFound
from orgos.store import JournalEntry, RunFilter, RunRecord, Store


class RunHistory:
    """The runs of a runtime's workspace as they are in its store: one run
    (by id or the first characters of it, its answer typed like
    ``Runtime.run``'s), the latest runs, a run's tree, a run's journal.
    Reads only. Reached as ``Runtime.history``."""

    def __init__(
        self, store: Store, workspace: str, typed: Callable[[RunRecord], RunRecord]
    ) -> None:
        self.store = store
        self.workspace = workspace
        self._typed = typed

    async def get_run(self, run_id: str) -> RunRecord:
        """A run by its id (or the first characters of it); typed like ``run``'s."""
        rec = await self.store.get_run(self.workspace, run_id)
        if rec is None:
            rec = await self._by_prefix(run_id)
        return self._typed(rec)

    async def _by_prefix(self, prefix: str) -> RunRecord:
        matches = await self.store.list_runs(RunFilter(self.workspace, id_prefix=prefix, limit=2))
        if len(matches) != 1:
            why = "no run" if not matches else "several runs"
            raise NotFound(f"{why} matching {prefix!r}")
        return matches[0]

    async def runs(self, *, limit: int = 50, top_level_only: bool = True) -> list[RunRecord]:
        """The latest runs (top-level ones only by default)."""
        return await self.store.list_runs(
            RunFilter(self.workspace, top_level_only=top_level_only, limit=limit)
        )

    async def tree(self, run_id: str) -> list[RunRecord]:
        """The run and all its descendants."""
        root = await self.get_run(run_id)
        if root.root_id == root.id:
            return await self.store.list_runs(
                RunFilter(self.workspace, root_id=root.id, limit=100_000)
            )
        out, frontier = [root], [root.id]
        while frontier:
            kids = await self.store.list_runs(
                RunFilter(self.workspace, parent_id=frontier.pop(), limit=100_000)
            )
            out.extend(kids)
            frontier.extend(k.id for k in kids)
        return out

    async def journal(self, run_id: str) -> list[JournalEntry]:
        """The run's journal, in order."""
        return await self.store.load_journal(run_id)
