"""Two workspaces on one store file: each worker executes only its own
workspace's runs, with its own models (ARCHITECTURE invariant 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stores import store_for

from orgos import Agent, RunStatus, Runtime
from orgos.errors import WorkspaceError
from orgos.testing.scripted import ScriptedModel


def runtime(
    db: Path | str, workspace: str, model: ScriptedModel, *, scheduled: bool = False, **kw: object
) -> Runtime:
    """``scheduled``: the agent has a concurrency limit, so the worker claims
    through the scheduler rather than the plain claim."""
    agent = Agent(name="helper", max_concurrent=5 if scheduled else None)
    return Runtime(
        store=db, workspace=workspace, agents=[agent], models=model,
        poll_interval=0.02, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def queue_run(db: Path | str, workspace: str, task: str, priority: int = 0) -> str:
    """Record a run for ``workspace`` without executing it (a submitter with
    no room for work: the run waits in the queue for a worker)."""
    idle = ScriptedModel(lambda r: ScriptedModel.final("never asked"))
    async with runtime(db, workspace, idle, max_active=0, recover=False) as rt:
        rec = await rt.submit("helper", task, priority=priority)
    assert rec.status is RunStatus.QUEUED and not idle.requests
    return rec.id


@pytest.mark.parametrize("scheduled", [False, True], ids=["claim", "scheduler"])
async def test_a_worker_never_claims_another_workspaces_run(
    tmp_path: Path, scheduled: bool
) -> None:
    db = store_for(tmp_path)
    model_a = ScriptedModel(lambda r: ScriptedModel.final("answered in A"))
    model_b = ScriptedModel(lambda r: ScriptedModel.final("answered in B"))
    async with runtime(db, "a", model_a, scheduled=scheduled) as worker_a:
        assert (worker_a.kernel.scheduler is not None) is scheduled
        # B's run is queued first and ranks higher: an unscoped claim takes it
        # in the very claim that takes A's run.
        b_run = await queue_run(db, "b", "for B", priority=5)
        a_run = await queue_run(db, "a", "for A")
        done = await worker_a.wait(a_run, timeout=10)
        assert done.status is RunStatus.SUCCEEDED and done.output == "answered in A"
        untouched = await worker_a.store.get_run("b", b_run)
        assert untouched is not None
        assert (untouched.status, untouched.owner) == (RunStatus.QUEUED, None)
        assert len(model_a.requests) == 1
    async with runtime(db, "b", model_b, scheduled=scheduled) as worker_b:
        ran = await worker_b.wait(b_run, timeout=10)
    assert ran.status is RunStatus.SUCCEEDED and ran.output == "answered in B"
    assert len(model_b.requests) == 1 and len(model_a.requests) == 1


async def test_a_worker_configured_for_several_workspaces_runs_them_all(tmp_path: Path) -> None:
    db = store_for(tmp_path)
    b_run = await queue_run(db, "b", "for B")
    shared = ScriptedModel(lambda r: ScriptedModel.final("instance worker"))
    async with runtime(db, "a", shared, workspaces=["b"]) as worker:
        ran = await worker.kernel.wait(b_run, workspace="b", timeout=10)
    assert ran.status is RunStatus.SUCCEEDED and ran.output == "instance worker"


async def test_a_worker_refuses_to_create_runs_in_a_workspace_it_does_not_serve(
    tmp_path: Path,
) -> None:
    model = ScriptedModel(lambda r: ScriptedModel.final("x"))
    async with runtime(store_for(tmp_path), "a", model) as rt:
        with pytest.raises(WorkspaceError, match="serves workspace"):
            await rt.kernel.submit("agent", "helper", {"task": "t"}, workspace="b")
    assert not model.requests
