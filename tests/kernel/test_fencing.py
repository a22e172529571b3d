"""Per-run fencing in the kernel: a run that another worker claimed since
this one did can write nothing more here; the worker's other runs go on."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

from orgos import Agent, Runtime, tool
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.store import RunStatus, WorkerInfo
from orgos.testing import ScriptedModel


def respond(req: ModelRequest) -> ModelResponse:
    if any(m.role == "tool" for m in req.messages):
        return ScriptedModel.final("done")
    return ScriptedModel.call("step", label=str(req.messages[1].content))


async def test_a_run_claimed_by_another_worker_since_is_dropped_and_the_others_go_on(
    tmp_path: Path,
) -> None:
    calls: list[str] = []
    inside = {"slow": asyncio.Event(), "other": asyncio.Event()}
    release = asyncio.Event()

    @tool(idempotent=True)
    async def step(label: str) -> str:
        """One step; it waits for the test before it answers."""
        calls.append(label)
        inside[label].set()
        await release.wait()
        return f"{label} done"

    # On SQLite: the worker's row is tampered with below, and a store that
    # announces changes (PostgreSQL) would have its dispatcher see the fence
    # at once and start over. The store's per-run check is in the
    # conformance suite, on both backends.
    rt = Runtime(store=tmp_path / "orgos.db", agents=[Agent(name="a", tools=["step"])],
                 tools=[step], models=ScriptedModel(respond), poll_interval=3600,
                 lease_ttl=600)  # fmt: skip
    async with rt:
        me = rt.kernel.worker_id
        slow, other = await rt.submit("a", "slow"), await rt.submit("a", "other")
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in inside.values())), 30)
        # Through the Store API: worker B takes the slow run over (its fence
        # moves on), and this worker's row is then live again (as a worker
        # registering under the same id would make it): only the run's
        # fence tells that its writes are stale.
        store = rt.store
        await store.workers.fence(me)
        await store.workers.register(WorkerInfo("B", socket.gethostname(), os.getpid(),
                                               time.time() + 600))  # fmt: skip
        taken = await store.claim_runs("B", 1, time.time(), [slow.id], workspaces=[rt.workspace])
        assert [(r.id, r.owner) for r in taken] == [(slow.id, "B")]
        await store.workers.register(WorkerInfo(me, socket.gethostname(), os.getpid(),
                                               time.time() + 600))  # fmt: skip
        before = [(e.seq, e.phase) for e in await store.load_journal(slow.id)]
        release.set()
        done = await rt.wait(other.id, timeout=30)
        assert done.status is RunStatus.SUCCEEDED
        # The slow run's result went in the first batch after the release,
        # long before the other run's end: refused, its task stopped here.
        assert slow.id not in rt.kernel.held_runs
        assert rt.kernel.worker_id == me  # the worker itself went on
        rec = await store.get_run(rt.workspace, slow.id)
        assert rec is not None
        assert (rec.status, rec.owner, rec.fence) == (RunStatus.RUNNING, "B", taken[0].fence)
        # Nothing of the stale step was written: not its result, not its end.
        assert [(e.seq, e.phase) for e in await store.load_journal(slow.id)] == before
        assert sorted(calls) == ["other", "slow"]
