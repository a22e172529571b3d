"""Delegation: child runs with context, in parallel, with the parent parked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from run_events import next_status
from stores import store_for

from orgos import Agent, RunStatus, Runtime, tool
from orgos.config.org import OrgSpec, TeamSpec
from orgos.llm.base import ModelError, ModelRequest, ModelResponse
from orgos.testing.scripted import ScriptedModel


def delegate(agent: str, task: str, context: str = "") -> tuple[str, dict[str, Any]]:
    return ("delegate", {"agent": agent, "task": task, "context": context})


def boss_and_workers(barrier: asyncio.Barrier | None, seen: list[str]) -> ScriptedModel:
    async def respond(req: ModelRequest) -> ModelResponse:
        system = req.messages[0].content
        if system.startswith("You are boss"):
            if not any(m.role == "tool" for m in req.messages):
                return ScriptedModel.calls(
                    delegate("worker", "count apples", "there are 3 apples"),
                    delegate("helper", "count pears", "there are 4 pears"),
                )
            results = [m.content for m in req.messages if m.role == "tool"]
            return ScriptedModel.final(" | ".join(results))
        seen.append(req.messages[1].content)
        if barrier is not None:
            async with asyncio.timeout(5):
                await barrier.wait()  # both children are in flight at once
        return ScriptedModel.final("7" if "apples" in req.messages[1].content else "4")

    return ScriptedModel(respond)


AGENTS = [
    Agent(name="boss", delegates=["worker", "helper"]),
    Agent(name="worker"),
    Agent(name="helper"),
]


async def test_parallel_delegation_with_context(tmp_path: Path) -> None:
    seen: list[str] = []
    model = boss_and_workers(asyncio.Barrier(2), seen)
    async with Runtime(store=store_for(tmp_path), agents=AGENTS, models=model) as r:
        rec = await r.run("boss", "count fruit", timeout=10)
        tree = await r.history.tree(rec.id)
    assert rec.status is RunStatus.SUCCEEDED
    assert '"result":"7"' in rec.output and '"result":"4"' in rec.output
    kids = [t for t in tree if t.parent_id == rec.id]
    assert sorted(k.target for k in kids) == ["helper", "worker"]
    assert all(k.status is RunStatus.SUCCEEDED and k.root_id == rec.id for k in kids)
    assert any("there are 3 apples" in s and "Delegated by agent boss" in s for s in seen)


async def test_parent_is_parked_while_children_work(tmp_path: Path) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def respond(req: ModelRequest) -> ModelResponse:
        if req.messages[0].content.startswith("You are boss"):
            if any(m.role == "tool" for m in req.messages):
                return ScriptedModel.final("done")
            return ScriptedModel.calls(delegate("worker", "slow job"))
        started.set()
        await release.wait()
        return ScriptedModel.final("ok")

    async with Runtime(
        store=store_for(tmp_path), agents=AGENTS, models=ScriptedModel(respond)
    ) as r:
        events = r.kernel.events.subscribe(None)  # before the parent can park
        rec = await r.submit("boss", "x")
        await asyncio.wait_for(started.wait(), 5)
        await next_status(events, rec.id)  # the child may start before the park commits
        parent = await r.get_run(rec.id)
        assert parent.status is RunStatus.WAITING
        assert parent.owner is None  # it holds no worker, no task
        assert rec.id not in r.kernel.held_runs
        release.set()
        done = await r.wait(rec.id, timeout=10)
    assert done.status is RunStatus.SUCCEEDED


async def test_delegation_outside_the_allowed_list_is_refused(tmp_path: Path) -> None:
    model = ScriptedModel(
        [ScriptedModel.calls(delegate("boss", "recurse")), ScriptedModel.final("ok")]
    )
    agents = [Agent(name="worker", delegates=["helper"]), Agent(name="helper"), Agent(name="boss")]
    async with Runtime(store=store_for(tmp_path), agents=agents, models=model) as r:
        rec = await r.run("worker", "x", timeout=10)
        assert await r.history.tree(rec.id) == [await r.get_run(rec.id)]
    tool_msg = next(m.content for m in model.requests[1].messages if m.role == "tool")
    assert "may not delegate to 'boss'" in tool_msg


async def test_failed_child_is_reported_to_the_parent(tmp_path: Path) -> None:
    async def respond(req: ModelRequest) -> ModelResponse:
        if req.messages[0].content.startswith("You are boss"):
            tools = [m.content for m in req.messages if m.role == "tool"]
            if tools:
                return ScriptedModel.final(tools[0])
            return ScriptedModel.calls(delegate("worker", "fail please"))
        return ScriptedModel.call("missing_tool")  # loops until its step limit

    agents = [Agent(name="boss", delegates=["worker"]), Agent(name="worker", max_steps=2)]
    async with Runtime(
        store=store_for(tmp_path), agents=agents, models=ScriptedModel(respond)
    ) as r:
        rec = await r.run("boss", "x", timeout=10)
    assert rec.status is RunStatus.SUCCEEDED
    assert "agent worker failed" in rec.output and "step limit" in rec.output


async def test_cancel_stops_the_whole_tree(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def respond(req: ModelRequest) -> ModelResponse:
        if req.messages[0].content.startswith("You are boss"):
            return ScriptedModel.calls(delegate("worker", "forever"))
        started.set()
        await asyncio.Event().wait()
        raise AssertionError

    async with Runtime(
        store=store_for(tmp_path), agents=AGENTS, models=ScriptedModel(respond)
    ) as r:
        rec = await r.submit("boss", "x")
        await asyncio.wait_for(started.wait(), 5)
        ids = await r.control.cancel(rec.id)
        assert len(ids) == 2
        for rid in ids:
            assert (await r.wait(rid, timeout=5)).status is RunStatus.CANCELLED


@tool(idempotent=True)
async def note(worker: str) -> str:
    """Records which worker ran a step. A's steps wait (bounded) until B has
    run one: A holds its slots meanwhile, so B must take runs from the queue
    (a loaded machine let A drain it alone)."""
    ran.append(worker)
    if worker == "B":
        b_ran.set()
    else:
        await asyncio.wait_for(b_ran.wait(), 10)
    return "ok"


ran: list[str] = []
b_ran = asyncio.Event()


async def test_two_workers_share_the_queue_and_no_run_executes_twice(tmp_path: Path) -> None:
    global b_ran
    ran.clear()
    b_ran = asyncio.Event()  # of this test's loop
    n = 60

    def model_for(name: str) -> ScriptedModel:
        def respond(req: ModelRequest) -> ModelResponse:
            if any(m.role == "tool" for m in req.messages):
                return ScriptedModel.final("done")
            return ScriptedModel.call("note", worker=name)

        return ScriptedModel(respond)

    agents = [Agent(name="a", tools=[note])]
    common: dict[str, Any] = {"agents": agents, "tools": [note], "poll_interval": 0.02}
    a = Runtime(store=store_for(tmp_path), models=model_for("A"), max_active=8, **common)
    b = Runtime(store=store_for(tmp_path), models=model_for("B"), max_active=8, **common)
    async with a, b:
        a.kernel.max_active = 0  # A only enqueues; both will drain the queue
        recs = [await a.submit("a", f"job {i}") for i in range(n)]
        a.kernel.max_active = 8
        done = [await a.wait(rec.id, timeout=30) for rec in recs]
    assert all(d.status is RunStatus.SUCCEEDED for d in done)
    assert len(ran) == n
    assert {"A", "B"} <= set(ran)


# --- delegation by capability: routing, reassignment, breakers --------------------------
def routing_boss(call: dict[str, Any], offered: list[dict[str, Any]]) -> Any:
    """The boss delegates ``call`` once, then answers with what came back."""

    def boss(req: ModelRequest) -> ModelResponse:
        tools = {t.name: t for t in req.tools}
        if "delegate" in tools:
            offered.append(tools["delegate"].parameters)
        results = [m.content for m in req.messages if m.role == "tool"]
        if not results:
            return ScriptedModel.call("delegate", **call)
        return ScriptedModel.final(results[0])

    return boss


def org_model(call: dict[str, Any], offered: list[dict[str, Any]], failing: set[str]) -> Any:
    boss = routing_boss(call, offered)

    def respond(req: ModelRequest) -> ModelResponse:
        who = req.messages[0].content.split()[2].rstrip(".,")
        if who == "boss":
            return boss(req)
        if who in failing:
            raise ModelError(f"{who} is down")
        return ScriptedModel.final(f"done by {who}")

    return ScriptedModel(respond)


def org_runtime(tmp_path: Path, model: Any, **kw: Any) -> Runtime:
    agents = [Agent(name="boss", team="ops"),
              Agent(name="w1", team="ops", capabilities=["refunds"]),
              Agent(name="w2", team="ops", capabilities=["refunds"]),
              Agent(name="outsider", capabilities=["refunds", "shipping"])]  # fmt: skip
    org = OrgSpec(teams=[TeamSpec(name="ops", lead="boss")])
    return Runtime(store=store_for(tmp_path), agents=agents, org=org, models=model,
                   model_retries=0, **kw)  # fmt: skip


async def kids_of(r: Runtime, run_id: str) -> list[str]:
    kids = [t for t in await r.history.tree(run_id) if t.parent_id == run_id]
    return [k.target for k in sorted(kids, key=lambda k: (k.created_at, k.id))]


async def test_delegation_by_capability_is_routed_among_the_agents_the_chart_allows(
    tmp_path: Path,
) -> None:
    offered: list[dict[str, Any]] = []
    model = org_model({"capability": "refunds", "task": "refund A-1"}, offered, set())
    async with org_runtime(tmp_path, model) as r:
        rec = await r.run("boss", "handle A-1", timeout=10)
        kids = await kids_of(r, rec.id)
        journal = await r.history.journal(rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert offered[0]["properties"]["capability"]["enum"] == ["refunds"]
    assert kids == ["w1"]  # least loaded among boss's reports; never the outsider
    assert '"result":"done by w1"' in rec.output
    route = next(e for e in journal if e.kind == "route" and e.phase == "result")
    assert route.payload == {"ok": "w1"}  # journaled: a replay never routes again


async def test_a_failed_routed_delegation_is_reassigned_to_another_capable_agent(
    tmp_path: Path,
) -> None:
    model = org_model({"capability": "refunds", "task": "refund A-1"}, [], {"w1"})
    async with org_runtime(tmp_path, model) as r:
        rec = await r.run("boss", "handle A-1", timeout=10)
        kids = await kids_of(r, rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert kids == ["w1", "w2"]
    assert '"result":"done by w2"' in rec.output


async def test_a_delegation_to_an_agent_whose_breaker_is_open_is_refused(
    tmp_path: Path,
) -> None:
    model = org_model({"agent": "w1", "task": "refund A-1"}, [], {"w1"})
    r = org_runtime(tmp_path, model)
    r.router.breaker_failures = 1
    async with r:
        first = await r.run("boss", "one", timeout=10)
        assert r.router.breaker("w1").state == "open"
        second = await r.run("boss", "two", timeout=10)
        kids = await kids_of(r, second.id)
    assert "agent w1 failed" in first.output
    assert kids == []  # nothing was started for an agent cooling down
    assert "agent w1 is cooling down after failures" in second.output
