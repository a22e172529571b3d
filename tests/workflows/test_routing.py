"""Routing: capabilities, least-loaded under concurrency limits, a
supervisor's choice, reassignment and the circuit breaker under injected
failures; and delegation rights from the org chart."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Any

from stores import store_for
from wf_helpers import agents_model

from orgos import Agent, RunStatus, Runtime
from orgos.config.org import OrgSpec, TeamSpec
from orgos.config.workflow import WorkflowSpec
from orgos.llm.base import ModelError, ModelRequest, ModelResponse
from orgos.store import RunFilter
from orgos.testing import ScriptedModel


def wf(steps: list[dict[str, Any]], name: str = "t") -> WorkflowSpec:
    return WorkflowSpec.model_validate({"name": name, "steps": steps})


async def targets(rt: Runtime, run_id: str) -> list[str]:
    kids = await rt.store.list_runs(RunFilter(rt.workspace, parent_id=run_id, limit=10_000))
    return [k.target for k in sorted(kids, key=lambda k: (k.created_at, k.id))]


def echo(name: str) -> Any:
    return lambda task: name


async def test_least_loaded_spreads_work_under_concurrency_limits(tmp_path: Path) -> None:
    agents = [Agent(name="r1", capabilities=["refunds"], max_concurrent=1),
              Agent(name="r2", capabilities=["refunds", "eu"]),
              Agent(name="r3", capabilities=["refunds"]), Agent(name="other")]  # fmt: skip
    model = agents_model({n: echo(n) for n in ("r1", "r2", "r3", "other")})
    spec = wf([{"id": "each", "route": {"capabilities": ["refunds"]}, "for_each": "[1, 2, 3, 4, 5, 6]"},
               {"id": "eu", "route": {"capabilities": ["refunds", "eu"]}}])  # fmt: skip
    async with Runtime(store=store_for(tmp_path), agents=agents, models=model) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
        got = collections.Counter(await targets(rt, rec.id))
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert got == {"r1": 1, "r2": 4, "r3": 2}  # r1 at its limit of 1; eu can only be r2


async def test_least_loaded_avoids_a_busy_agent(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def busy(task: str) -> str:
        await release.wait()
        return "late"

    agents = [Agent(name="a1", capabilities=["x"]), Agent(name="a2", capabilities=["x"])]
    model = agents_model({"a1": busy, "a2": echo("a2")})
    async with Runtime(store=store_for(tmp_path), agents=agents, models=model) as rt:
        for _ in range(2):
            await rt.submit("a1", "keep busy")  # a1 has two runs in flight
        rec = await rt.run_workflow(wf([{"id": "s", "route": {"capabilities": ["x"]}}]), timeout=20)
        release.set()
        assert rec.status is RunStatus.SUCCEEDED, rec.error
        assert await targets(rt, rec.id) == ["a2"]


async def test_a_supervisor_chooses_under_a_schema(tmp_path: Path) -> None:
    asked: list[ModelRequest] = []
    inner = agents_model({"a1": echo("a1"), "a2": echo("a2")})

    async def respond(req: ModelRequest) -> ModelResponse:
        if req.messages[0].content.startswith("You are sup"):
            asked.append(req)
            return ScriptedModel.final({"agent": "a2"})
        return await inner.complete(req)

    agents = [Agent(name="sup"), Agent(name="a1", capabilities=["x"]),
              Agent(name="a2", capabilities=["x"])]  # fmt: skip
    spec = wf(
        [
            {
                "id": "s",
                "task": "pick someone",
                "route": {"capabilities": ["x"], "strategy": "supervisor", "supervisor": "sup"},
            }
        ]
    )
    async with Runtime(
        store=store_for(tmp_path), agents=agents, models=ScriptedModel(respond)
    ) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
        assert await targets(rt, rec.id) == ["a2"]
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert len(asked) == 1
    assert (asked[0].output_schema or {})["properties"]["agent"]["enum"] == ["a1", "a2"]
    assert asked[0].messages[1].content == "pick someone"


def failing(message: str) -> Any:
    def fail(task: str) -> str:
        raise ModelError(message)

    return fail


async def test_a_failed_task_is_reassigned_to_another_capable_agent(tmp_path: Path) -> None:
    agents = [Agent(name="a1", capabilities=["x"]), Agent(name="a2", capabilities=["x"]),
              Agent(name="b1", capabilities=["y"])]  # fmt: skip
    model = agents_model({"a1": failing("a1 is down"), "a2": echo("a2"), "b1": echo("b1")})
    spec = wf([{"id": "s", "agent": "a1", "on_failure": "reassign"}])
    async with Runtime(
        store=store_for(tmp_path), agents=agents, models=model, model_retries=0
    ) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
        assert await targets(rt, rec.id) == ["a1", "a2"]
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"s": "a2"}


async def test_reassignment_runs_out_of_agents(tmp_path: Path) -> None:
    agents = [Agent(name="a1", capabilities=["x"]), Agent(name="a2", capabilities=["x"])]
    model = agents_model({"a1": failing("a1 is down"), "a2": failing("a2 is down")})
    spec = wf([{"id": "s", "route": {"capabilities": ["x"]}, "on_failure": "reassign"}])
    async with Runtime(
        store=store_for(tmp_path), agents=agents, models=model, model_retries=0
    ) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
        assert sorted(await targets(rt, rec.id)) == ["a1", "a2"]
    assert rec.status is RunStatus.FAILED
    assert "a2 is down" in (rec.error or "")


async def test_the_circuit_breaker_opens_and_lets_the_agent_back_after_a_cool_down(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    agents = [Agent(name="bad", capabilities=["x"]), Agent(name="good", capabilities=["x"])]
    model = agents_model({"bad": failing("bad is broken"), "good": echo("good")})
    spec = wf([{"id": "s", "route": {"capabilities": ["x"]}, "retry": {"max_attempts": 2}}])
    rt = Runtime(store=store_for(tmp_path), agents=agents, models=model, model_retries=0)
    rt.router.clock = lambda: now[0]
    rt.router.breaker_failures, rt.router.breaker_cooldown = 2, 30.0
    async with rt:
        seen = []
        for _ in range(3):
            rec = await rt.run_workflow(spec, timeout=20)
            assert rec.status is RunStatus.SUCCEEDED, rec.error
            seen.append(await targets(rt, rec.id))
        assert seen == [["bad", "good"], ["bad", "good"], ["good"]]  # open after 2 failures
        assert rt.router.breaker("bad").state == "open"
        now[0] += 29
        rec = await rt.run_workflow(spec, timeout=20)
        assert await targets(rt, rec.id) == ["good"]  # still cooling down
        now[0] += 2
        rec = await rt.run_workflow(spec, timeout=20)
        assert await targets(rt, rec.id) == ["bad", "good"]  # half-open: one trial, it fails
        assert rt.router.breaker("bad").state == "open"


async def test_nobody_capable_when_every_breaker_is_open(tmp_path: Path) -> None:
    agents = [Agent(name="bad", capabilities=["x"])]
    model = agents_model({"bad": failing("bad is broken")})
    spec = wf([{"id": "s", "route": {"capabilities": ["x"]}}])
    rt = Runtime(store=store_for(tmp_path), agents=agents, models=model, model_retries=0)
    rt.router.breaker_failures = 1
    async with rt:
        first = await rt.run_workflow(spec, timeout=20)
        second = await rt.run_workflow(spec, timeout=20)
        assert await targets(rt, second.id) == []
    assert first.status is RunStatus.FAILED and second.status is RunStatus.FAILED
    assert "cooling down after failures: bad" in (second.error or "")


async def test_delegation_rights_come_from_the_org_chart(tmp_path: Path) -> None:
    offered: list[list[str]] = []

    def respond(req: ModelRequest) -> ModelResponse:
        system = req.messages[0].content
        if system.startswith("You are boss"):
            tools = {t.name: t for t in req.tools}
            offered.append(tools["delegate"].parameters["properties"]["agent"]["enum"])
            if not any(m.role == "tool" for m in req.messages):
                return ScriptedModel.calls(("delegate", {"agent": "worker", "task": "w"}),
                                           ("delegate", {"agent": "stranger", "task": "s"}))  # fmt: skip
            results = [m.content for m in req.messages if m.role == "tool"]
            return ScriptedModel.final(" | ".join(results))
        return ScriptedModel.final("worked")

    agents = [Agent(name="boss", team="ops"), Agent(name="worker", team="ops"),
              Agent(name="auditor"), Agent(name="stranger")]  # fmt: skip
    org = OrgSpec(teams=[TeamSpec(name="ops", lead="boss", may_use=["auditor"])])
    async with Runtime(store=store_for(tmp_path), agents=agents, org=org,
                       models=ScriptedModel(respond)) as rt:  # fmt: skip
        rec = await rt.run("boss", "go", timeout=20)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert offered[0] == ["worker", "auditor"]  # down its line, and what its team may use
    assert '"result":"worked"' in rec.output
    assert "boss may not delegate to 'stranger'" in rec.output


async def test_a_half_open_breaker_admits_exactly_one_trial(tmp_path: Path) -> None:
    now = [1000.0]
    agents = [Agent(name="bad", capabilities=["x"]), Agent(name="good", capabilities=["x"])]
    model = agents_model({"bad": failing("bad is broken"), "good": echo("good")})
    one = wf([{"id": "s", "agent": "bad"}], name="one")
    fan = wf([{"id": "s", "route": {"capabilities": ["x"]}, "for_each": "[1, 2, 3, 4, 5, 6]",
               "retry": {"max_attempts": 2}}], name="fan")  # fmt: skip
    rt = Runtime(store=store_for(tmp_path), agents=agents, models=model, model_retries=0)
    rt.router.clock = lambda: now[0]
    rt.router.breaker_failures, rt.router.breaker_cooldown = 1, 30.0
    async with rt:
        await rt.run_workflow(one, timeout=20)  # bad fails: its breaker opens
        assert rt.router.breaker("bad").state == "open"
        now[0] += 31  # cooled down: half-open
        rec = await rt.run_workflow(fan, timeout=20)
        got = collections.Counter(await targets(rt, rec.id))
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert got["bad"] == 1  # one trial, not half of the six branches
    assert got["good"] == 6


async def test_a_supervisors_routing_choice_is_a_governed_syscall_of_the_workflow(
    tmp_path: Path,
) -> None:
    from orgos.policy import PolicySpec

    asked: list[ModelRequest] = []
    inner = agents_model({"a1": echo("a1"), "a2": echo("a2")})

    async def respond(req: ModelRequest) -> ModelResponse:
        if req.messages[0].content.startswith("You are sup"):
            asked.append(req)
            return ScriptedModel.final({"agent": "a2"})
        return await inner.complete(req)

    agents = [Agent(name="sup"), Agent(name="a1", capabilities=["x"]),
              Agent(name="a2", capabilities=["x"])]  # fmt: skip
    route = {"capabilities": ["x"], "strategy": "supervisor", "supervisor": "sup"}
    spec = wf([{"id": "s", "task": "pick someone", "route": route}])
    frozen = PolicySpec.model_validate({"rules": [
        {"name": "sup-frozen", "when": {"agent": "sup", "kind": "llm"}, "decide": "deny"}]})  # fmt: skip
    async with Runtime(store=store_for(tmp_path), agents=agents, models=ScriptedModel(respond),
                       governance=frozen) as rt:  # fmt: skip
        rec = await rt.run_workflow(spec, timeout=20)
        got = await targets(rt, rec.id)
        journal = await rt.history.journal(rec.id)
        assert rt.governance is not None
        audit = [(r.actor, r.action) for r in await rt.governance.store.audit.rows()]
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert asked == []  # policy refused the supervisor's model call: it never reached the model
    assert got == ["a1"]  # so the step was routed by load
    llm = [e.payload for e in journal if e.kind == "llm" and e.phase == "intent"]
    assert llm and llm[0]["agent"] == "sup"  # journaled in the workflow run, as sup's call
    assert ("agent:sup", "llm.deny") in audit


async def test_a_supervisor_chooses_among_the_agents_the_chart_puts_under_it(
    tmp_path: Path,
) -> None:
    asked: list[ModelRequest] = []
    inner = agents_model({"a1": echo("a1"), "a2": echo("a2"), "a3": echo("a3")})

    async def respond(req: ModelRequest) -> ModelResponse:
        if req.messages[0].content.startswith("You are sup"):
            asked.append(req)
            return ScriptedModel.final({"agent": "a3"})  # not one of its own: ignored
        return await inner.complete(req)

    agents = [Agent(name="sup", team="t"), Agent(name="a1", team="t", capabilities=["x"]),
              Agent(name="a2", team="t", capabilities=["x"]), Agent(name="a3", capabilities=["x"])]  # fmt: skip
    org = OrgSpec(teams=[TeamSpec(name="t", lead="sup")])
    route = {"capabilities": ["x"], "strategy": "supervisor", "supervisor": "sup"}
    spec = wf([{"id": "s", "task": "pick", "route": route}])
    async with Runtime(store=store_for(tmp_path), agents=agents, org=org,
                       models=ScriptedModel(respond)) as rt:  # fmt: skip
        rec = await rt.run_workflow(spec, timeout=20)
        got = await targets(rt, rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert (asked[0].output_schema or {})["properties"]["agent"]["enum"] == ["a1", "a2"]
    assert got == ["a1"]  # its answer named an agent outside its team: routed by load
