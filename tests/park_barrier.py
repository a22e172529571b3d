"""A deterministic seam for lost-wake races: a real SQLite store that, when
a run's park (its ``waiting`` status) is about to be committed, first runs a
hook. A test puts the wake there (an approval decided, a switch lifted, a
child ended), so it lands after the run decided to park and before the park
is in the store: the interleaving that loses a wake, forced, not timed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from orgos.store.base import Op, RunStatus, UpdateRun
from orgos.store.sqlite import SQLiteStore

Hook = Callable[[UpdateRun], Awaitable[None]]


class ParkBarrier(SQLiteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        #: Run once, before the first park of a run in ``watch`` is committed.
        self.before_park: Hook | None = None
        self.watch: Callable[[UpdateRun], bool] = lambda op: True
        self.fired = 0

    async def write_batch(
        self, worker_id: str, ops: list[Op], fences: Mapping[str, int] | None = None
    ) -> None:
        hook = self.before_park
        if hook is not None:
            for op in ops:
                if type(op) is UpdateRun and op.status is RunStatus.WAITING and self.watch(op):
                    self.before_park = None
                    self.fired += 1
                    await hook(op)
                    break
        await super().write_batch(worker_id, ops, fences)
