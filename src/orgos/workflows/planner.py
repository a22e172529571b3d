"""Agent-defined flow: a planner agent turns a goal into a graph of sub-tasks.

The planner answers under a JSON Schema (the Plan model, its ``agent`` field
limited to the agents it may use); the plan is then checked like any workflow
(unknown agents, unknown needs, cycles) and, when it fails a check, the
planner is told why and asked again. A valid plan runs as a sub-workflow, with
the same guarantees as a written one."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pydantic

from orgos.config.expr import render
from orgos.config.workflow import Plan, StepSpec, WorkflowSpec
from orgos.config.workflow_check import check_workflow
from orgos.llm.base import Message, ModelRequest

if TYPE_CHECKING:
    from orgos.workflows.engine import Engine
    from orgos.workflows.state import StepState

#: How often a planner may answer with an invalid plan before the step fails.
PLAN_ATTEMPTS = 3


def plan_schema(agents: list[str]) -> dict[str, Any]:
    schema = Plan.model_json_schema()
    step = schema["$defs"]["PlanStep"]
    step["properties"]["agent"] = {"type": "string", "enum": agents}
    return schema


def plan_to_spec(name: str, plan: Plan) -> WorkflowSpec:
    """A plan as a workflow (its steps' tasks are plain text, not templates)."""
    steps = [
        StepSpec(id=p.id, agent=p.agent, task=p.task.replace("{{", "{ {"), needs=p.needs)
        for p in plan.steps
    ]
    return WorkflowSpec(name=name, steps=steps)


async def plan_workflow(engine: Engine, st: StepState) -> WorkflowSpec:
    """Ask the planner for a plan until one passes the checks (ValueError otherwise)."""
    s = st.spec
    assert s.planner is not None
    ctx, services = engine.ctx, engine.services
    planner = await services.agent(ctx.run.workspace, s.planner)
    agents = services.plan_agents(s.planner)
    if not agents:
        raise ValueError(f"{s.planner} may not hand work to any agent")
    known = {a: await services.agent(ctx.run.workspace, a) for a in agents}
    goal = str(render(s.task, engine.env())) if s.task else s.description or s.id
    roster = "\n".join(
        f"- {a}: {sp.role} {sp.description} (capabilities: {', '.join(sp.capabilities)})"
        for a, sp in known.items()
    )
    system = (
        f"You are {planner.name}" + (f", the {planner.role}." if planner.role else ".")
        + f"\n\n{planner.instructions}".rstrip()
        + "\n\nDecompose the goal into sub-tasks for these agents. A sub-task lists in"
        " `needs` the ids of the sub-tasks whose results it uses; sub-tasks without"
        f" a path between them run in parallel.\nAgents:\n{roster}\n\nAnswer with only"
        " a JSON document matching this schema:\n" + json.dumps(plan_schema(agents))
    )  # fmt: skip
    messages = [Message("system", system), Message("user", goal)]
    name = f"{engine.spec.name}-{s.id}"[:57] + "-plan"
    problem = "no answer"
    for _ in range(PLAN_ATTEMPTS):
        req = ModelRequest(list(messages), [], plan_schema(agents), planner.temperature)
        resp = await ctx.llm(req, planner.model, agent=planner.name)
        messages.append(Message("assistant", resp.content))
        try:
            plan = Plan.model_validate_json(_strip_fence(resp.content))
            spec = plan_to_spec(name, plan)
        except (pydantic.ValidationError, ValueError) as exc:
            problem = _first_error(exc)
        else:
            problems = check_workflow(spec, known, ())
            if not problems:
                return spec
            problem = "; ".join(p.message for p in problems)
        messages.append(Message("user", f"That plan is not valid: {problem}. Answer again."))
    raise ValueError(f"no valid plan after {PLAN_ATTEMPTS} answers; last problem: {problem}")


def _first_error(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "the document"
        return f"{where}: {e['msg']}"
    return str(exc)


def _strip_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else text[3:]
        text = text.rsplit("```", 1)[0]
    return text.strip()
