"""Per-run fencing: a write for a run carries the fence its worker claimed it with.

Every claim of a run bumps its fence token (``runs.fence``); a worker keeps
the token of each run it executes (``Kernel.claims``) and hands those to
``Store.write_batch``. The batch names, in the statement that checks its
worker, the runs it writes for whose token in the store is not the one
claimed: another worker claimed them since. Such a batch is refused whole
(``FencedOut`` naming those runs, nothing written); the journal then drops
those runs' ops, stops their tasks, and writes the rest again. So a worker
that paused past its lease and came back can never write for a run another
worker took, while its other runs go on.

What counts as writing for a run: its journal entries, its status, its
model usage and audit records, and the runs it creates (an ``InsertRun``
counts for its parent). Runs the worker holds no claim on (a decision or an
approval recorded for a parked run) are not checked per run; the worker's
own fence still is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from orgos.errors import FencedOut
from orgos.store.base import Append, InsertRun, Op


def run_of(op: Op) -> str | None:
    """The run ``op`` writes for (an inserted run's parent), if any."""
    if type(op) is Append:
        return op.entry.run_id
    if type(op) is InsertRun:
        return op.run.parent_id
    return op.run_id  # type: ignore[union-attr]


def claimed(ops: list[Op], fences: Mapping[str, int] | None) -> dict[str, int]:
    """The claimed fence of each run of ``fences`` that ``ops`` write for."""
    out: dict[str, int] = {}
    if not fences:
        return out
    for op in ops:
        rid = run_of(op)
        if rid is not None and rid not in out:
            fence = fences.get(rid)
            if fence is not None:
                out[rid] = fence
    return out


def without(ops: list[Op], runs: Collection[str]) -> list[Op]:
    """``ops`` less those written for ``runs``."""
    return [op for op in ops if run_of(op) not in runs]


def refused(worker_id: str, runs: Collection[str]) -> FencedOut:
    """The error of a batch that writes for runs claimed by another worker since."""
    names = ", ".join(sorted(runs))
    return FencedOut(
        f"worker {worker_id} writes for run(s) {names}, claimed by another worker since;"
        " the batch is refused",
        frozenset(runs),
    )
