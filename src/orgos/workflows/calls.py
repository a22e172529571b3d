"""What the workflow engine asks of the world, each as a journaled syscall
or a child run: routing choices, the child runs of a step, escalations to a
person, and the records of the steps' states that ``orgos show`` draws."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orgos.config.expr import render, render_data
from orgos.config.workflow import RouteSpec
from orgos.errors import OrgosError
from orgos.kernel.run_input import RunInput, StepOrigin
from orgos.kernel.syscall import Park, Syscall
from orgos.llm.base import ModelError
from orgos.result import Result
from orgos.store.waiting import WaitDecision
from orgos.workflows.state import Attempt, StepState

if TYPE_CHECKING:
    from orgos.workflows.engine import Engine, Launch


log = logging.getLogger("orgos.routing")


class NoRoute(OrgosError, LookupError):
    def __init__(self, step: str, why: str):
        super().__init__(f"step {step}: {why}")


async def route(
    engine: Engine, sid: str, route: RouteSpec, n: int, exclude: list[str]
) -> list[str]:
    """``n`` agents for step ``sid``, chosen once: a ``route`` syscall (after
    the supervisor's choice, an ``llm`` syscall of this run, when it chooses)."""
    services, ws = engine.services, engine.ctx.run.workspace
    task = engine.states[sid].spec.task
    pick, within = None, None
    if route.strategy == "supervisor" and route.supervisor is not None:
        within = services.within(route.supervisor)
        pick = await _supervisor_pick(engine, sid, route, exclude, within, task)

    async def execute(sc: Syscall) -> Result:
        try:
            return Result.of(await services.route(ws, route, n, exclude, pick=pick, within=within))
        except LookupError as exc:
            return Result.fail(str(exc), code="no_route")

    req = {"step": sid, "capabilities": route.capabilities, "strategy": route.strategy,
           "n": n, "exclude": exclude}  # fmt: skip
    if pick is not None:
        req["pick"] = pick
    res = await engine.ctx.syscall("route", req, execute)
    if not res.ok:
        # nobody can take it now (or policy says no): the launches fail like any attempt
        raise NoRoute(sid, str(res.error))
    return list(res.value)


async def _supervisor_pick(
    engine: Engine,
    sid: str,
    route: RouteSpec,
    exclude: list[str],
    within: list[str] | None,
    task: str,
) -> str | None:
    """Ask the supervisor to choose among the candidates (journaled first, so
    a replay asks about the same ones); None when its answer cannot be used."""
    supervisor = route.supervisor
    assert supervisor is not None
    router, ctx = engine.services.router, engine.ctx

    async def candidates(sc: Syscall) -> Result:
        try:
            return Result.of(router.candidates(route.capabilities, exclude, within))
        except LookupError as exc:
            return Result.fail(str(exc), code="no_route")

    req = {"step": sid, "capabilities": route.capabilities, "candidates_for": supervisor,
           "exclude": exclude}  # fmt: skip
    res = await ctx.syscall("route", req, candidates)
    agents: list[str] = list(res.value or []) if res.ok else []
    built = router.supervisor_request(supervisor, agents, task) if agents else None
    if built is None:
        return None  # the route below says why nobody can take it, or picks by load
    request, model = built
    try:
        resp = await ctx.llm(request, model, agent=supervisor)
    except ModelError as exc:
        log.warning("supervisor %s could not choose (%s); routing by load", supervisor, exc)
        return None
    return router.supervisor_pick(resp.content, agents)


@dataclass(slots=True)
class Shared:
    """What launches started together all get alike, built once rather than
    once per branch: the environment of the steps so far, and each step's
    needs' context (with or without their data)."""

    env: dict[str, Any] | None = None
    needs: dict[tuple[str, bool], dict[str, Any]] = field(default_factory=dict)


def child(engine: Engine, ln: Launch, shared: Shared | None = None) -> tuple[str, str, Any]:
    """The child run of a launch: (kind, target, input), with its context."""
    if shared is None:
        shared = Shared()
    st = engine.states[ln.step]
    s = st.spec
    origin = StepOrigin(engine.spec.name, s.id, ln.branch, st.attempts.get(ln.branch, 0) + 1,
                        st.iteration, compensation=ln.compensation)  # fmt: skip
    if ln.compensation:
        assert s.compensate is not None
        env = engine.env(step=st.view())
        task = str(render(s.compensate.task, env, engine.exprs))
        undo = {"step": s.id, "result": st.context()}
        return "agent", s.compensate.agent, RunInput(task, undo, step=origin).to_dict()
    extra: dict[str, Any] = {}
    if ln.branch >= 0 and st.items is not None:
        extra = {"item": st.items[ln.branch], "index": ln.branch}
    if s.loop is not None:
        extra["loop"] = {"iteration": st.iteration}
        extra["previous"] = st.view() if st.result is not None else None
    if shared.env is None:
        shared.env = engine.env()
    env = {**shared.env, **extra}
    task = str(render(s.task, env, engine.exprs)) if s.task else (s.description or s.id)
    if not s.task and "item" in extra:
        task = f"{task}: {json.dumps(extra['item'], ensure_ascii=False)}"
    if (rejected := st.feedback.get(ln.branch)) is not None:
        task = (
            f"{task}\n\nYour previous answer was sent back: {rejected}. Do it again so it passes."
        )
    key = (s.id, "item" in extra)
    needs = shared.needs.get(key)
    if needs is None:
        needs = {n: engine.states[n].context() for n in s.needs}
        if "item" in extra:
            # a branch gets its item, and what its needs found, but not their
            # data: a thousand branches would each carry the whole list
            needs = {n: {k: v for k, v in c.items() if k != "data"} for n, c in needs.items()}
        shared.needs[key] = needs
    context: dict[str, Any] = dict(needs)
    if "item" in extra:
        context["item"] = extra["item"]
    if s.loop is not None and st.result is not None:
        context["previous_iteration"] = st.context()
    if s.workflow is not None or s.planner is not None:
        sub = (
            engine.plans[s.id]
            if s.planner is not None
            else engine.services.workflow(s.workflow or "")
        )
        data = render_data(s.input, env, engine.exprs) if s.input else {}
        data = dict(data) if isinstance(data, dict) else {"value": data}
        if s.task:
            data.setdefault("task", task)
        if context:
            data.setdefault("context", context)
        # its steps start from what this one read, when tainted
        child = RunInput(workflow=sub.model_dump(mode="json"), input=data, step=origin,
                         tainted=engine.taints(s.id))  # fmt: skip
        return "workflow", sub.name, child.to_dict()
    assert ln.agent is not None
    if s.input:
        context["data"] = render_data(s.input, env, engine.exprs)
    inp = RunInput(task, context or None, step=origin, report=engine.spec.reports)
    return "agent", ln.agent, inp.to_dict()


async def escalate(
    engine: Engine, st: StepState, att: Attempt, error: str
) -> dict[str, Any] | None:
    """Park the workflow until a person answers: ``done`` with the step's
    result, or ``not-done``."""
    who = st.spec.escalate_to or engine.services.escalation_target(att.agent or st.spec.agent)
    req = {"step": st.spec.id, "branch": att.branch, "agent": att.agent, "error": error,
           "to": who}  # fmt: skip

    async def execute(sc: Syscall) -> Result:
        raise Park(
            f"step {st.spec.id} failed ({error}); escalated to {who}",
            WaitDecision(sc.seq, "escalate", req),
        )

    res = await engine.ctx.syscall("escalate", req, execute)
    if not res.ok:
        return None
    return {"data": res.value, "summary": f"answered by {who}", "confidence": None,
            "agent": who}  # fmt: skip


async def note(engine: Engine) -> None:
    """Journal the steps whose state changed (``orgos show`` draws them)."""
    changed = {sid: st.status for sid, st in engine.states.items()
               if engine._noted.get(sid) != st.status}  # fmt: skip
    if not changed:
        return
    engine._noted.update(changed)
    errors = {sid: engine.states[sid].error for sid in changed if engine.states[sid].error}

    async def execute(sc: Syscall) -> Result:
        return Result.of(True)

    await engine.ctx.syscall("step", {"states": changed, "errors": errors}, execute)
