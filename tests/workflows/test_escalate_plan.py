"""Escalation to a person, and agent-defined flow (a planner's graph)."""

from __future__ import annotations

import json
from pathlib import Path

from stores import store_for
from wf_helpers import agents_model

from orgos import Agent, RunStatus, Runtime
from orgos.config.org import OrgSpec, TeamSpec
from orgos.config.workflow import WorkflowSpec
from orgos.llm.base import ModelError, ModelRequest, ModelResponse
from orgos.store import RunFilter
from orgos.store.waiting import WaitDecision
from orgos.testing import ScriptedModel


async def test_escalation_parks_until_a_person_answers(tmp_path: Path) -> None:
    def broken(task: str) -> str:
        raise ModelError("the carrier API is down")

    agents = [Agent(name="lead"), Agent(name="shipper", team="ops"), Agent(name="after")]
    org = OrgSpec(teams=[TeamSpec(name="ops", owner="dana@example.com", lead="lead")])
    spec = WorkflowSpec.model_validate({
        "name": "esc",
        "steps": [{"id": "ship", "agent": "shipper", "on_failure": "escalate"},
                  {"id": "after", "agent": "after", "needs": ["ship"], "task": "{{ steps.ship.output }}"}],
        "output": {"ship": "steps.ship.output", "after": "steps.after.output"},
    })  # fmt: skip
    model = agents_model({"shipper": broken, "after": lambda t: "after " + t.split("\n")[0]})
    async with Runtime(store=store_for(tmp_path), agents=agents, org=org, models=model,
                       model_retries=0) as rt:  # fmt: skip
        rec = await rt.run_workflow(spec, timeout=20)
        assert rec.status is RunStatus.WAITING
        decision = rec.waiting_on
        assert isinstance(decision, WaitDecision)
        assert decision.syscall == "escalate"
        assert decision.request["to"] == "dana@example.com"  # the team's owner
        assert "carrier API is down" in decision.request["error"]
        await rt.control.decide(rec.id, "done", "shipped by hand: PU-1")
        done = await rt.wait(rec.id, timeout=20)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.output == {"ship": "shipped by hand: PU-1", "after": "after shipped by hand: PU-1"}


async def test_a_planner_decomposes_a_goal_and_the_plan_runs(tmp_path: Path) -> None:
    plans = iter([
        # first answer: a cycle, refused; the planner is told why
        {"steps": [{"id": "a", "agent": "researcher", "task": "x", "needs": ["b"]},
                   {"id": "b", "agent": "writer", "task": "y", "needs": ["a"]}]},
        {"steps": [{"id": "facts", "agent": "researcher", "task": "find facts about otters"},
                   {"id": "more", "agent": "researcher", "task": "find habitats of otters"},
                   {"id": "essay", "agent": "writer", "task": "write it up", "needs": ["facts", "more"]}]},
    ])  # fmt: skip
    seen: list[ModelRequest] = []

    def planner(req: ModelRequest) -> ModelResponse:
        seen.append(req)
        return ScriptedModel.final(next(plans))

    inner = agents_model({"researcher": lambda t: "fact: " + t.split("\n")[0],
                          "writer": lambda t: "essay"})  # fmt: skip

    async def respond(req: ModelRequest) -> ModelResponse:
        if req.messages[0].content.startswith("You are planner"):
            return planner(req)
        return await inner.complete(req)

    agents = [Agent(name="planner", role="planner"), Agent(name="researcher"), Agent(name="writer")]
    spec = WorkflowSpec.model_validate({
        "name": "goal",
        "steps": [{"id": "plan", "planner": "planner", "task": "An essay on {{ input.topic }}"}],
        "output": "steps.plan.output",
    })  # fmt: skip
    async with Runtime(
        store=store_for(tmp_path), agents=agents, models=ScriptedModel(respond)
    ) as rt:
        rec = await rt.run_workflow(spec, {"topic": "otters"}, timeout=20)
        runs = await rt.store.list_runs(RunFilter(rt.workspace, root_id=rec.id, limit=100))
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == {"facts": "fact: find facts about otters",
                          "more": "fact: find habitats of otters", "essay": "essay"}  # fmt: skip
    assert len(seen) == 2
    assert "cycle" in seen[1].messages[-1].content
    schema = seen[0].output_schema or {}
    assert schema["$defs"]["PlanStep"]["properties"]["agent"]["enum"] == ["researcher", "writer"]
    assert json.dumps(seen[0].messages[1].content) == json.dumps("An essay on otters")
    sub = [r for r in runs if r.kind == "workflow" and r.id != rec.id]
    assert len(sub) == 1 and sub[0].target == "goal-plan-plan"
    assert sorted(r.target for r in runs if r.parent_id == sub[0].id) == [
        "researcher",
        "researcher",
        "writer",
    ]


async def test_a_planners_model_calls_are_governed_as_the_planners(tmp_path: Path) -> None:
    from orgos.policy import PolicySpec

    asked: list[ModelRequest] = []

    def respond(req: ModelRequest) -> ModelResponse:
        asked.append(req)
        return ScriptedModel.final({"steps": [{"id": "a", "agent": "writer", "task": "x"}]})

    agents = [Agent(name="planner"), Agent(name="writer")]
    spec = WorkflowSpec.model_validate(
        {"name": "goal", "steps": [{"id": "plan", "planner": "planner", "task": "an essay"}]}
    )
    frozen = PolicySpec.model_validate({"rules": [
        {"name": "no-planning", "when": {"agent": "planner", "kind": "llm"}, "decide": "deny",
         "reason": "the planner is over its budget"}]})  # fmt: skip
    async with Runtime(store=store_for(tmp_path), agents=agents, models=ScriptedModel(respond),
                       governance=frozen) as rt:  # fmt: skip
        rec = await rt.run_workflow(spec, timeout=20)
    assert asked == []  # the rule on the planner agent stopped its call in the workflow run
    assert rec.status is RunStatus.FAILED
    assert "the planner is over its budget" in (rec.error or "")
