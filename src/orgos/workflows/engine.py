"""The workflow engine: a deterministic program over a WorkflowSpec.

It runs inside a workflow run's RunContext. Each ready step becomes child runs
(one per branch) through the ``delegate`` syscall; the engine then parks in
``wait_any`` until one of them ends, handles every child that ended, starts
what became ready, and parks again. Every decision is made from journaled
results (children's outcomes, the clock, routing choices), so after a crash a
replay rebuilds the same state, and finished branches are never run again:
their outcomes come back from the journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from orgos.config.expr import ExprError, Exprs
from orgos.config.specs import AgentSpec
from orgos.config.workflow import RouteSpec, StepSpec, WorkflowSpec
from orgos.errors import OrgosError
from orgos.kernel.context import RunContext
from orgos.store.outcome import RunOutcome
from orgos.tools.validators import Validator
from orgos.workflows import calls, gates
from orgos.workflows.planner import plan_workflow
from orgos.workflows.state import (
    SETTLED,
    Attempt,
    Retry,
    StepState,
    fan_in,
    step_result,
    upstream,
)

if TYPE_CHECKING:
    from orgos.org.routing import Router

#: Branches started per ``delegate`` syscall: a fan-out over 1,000 items
#: starts its first branches while the later ones are still being created.
SPAWN_CHUNK = 50


class WorkflowFailed(OrgosError):
    """The workflow cannot go on: a step failed for good."""


class Services(Protocol):
    """What the engine needs from the runtime around it."""

    #: Custom validators (``@validator``) that gate criteria may name.
    validators: Mapping[str, Validator]

    def workflow(self, name: str) -> WorkflowSpec: ...

    async def agent(self, workspace: str, name: str) -> AgentSpec: ...

    #: Candidates, breakers and a supervisor's request (routing itself holds no model).
    router: Router

    async def route(
        self,
        workspace: str,
        route: RouteSpec,
        n: int,
        exclude: list[str],
        *,
        pick: str | None = None,
        within: list[str] | None = None,
    ) -> list[str]:
        """``n`` agents for a step (raises LookupError when none may take it)."""
        ...

    def within(self, supervisor: str) -> list[str] | None:
        """Whom the org chart lets ``supervisor`` hand work to (None: anyone)."""
        ...

    def escalation_target(self, agent: str | None) -> str: ...

    def plan_agents(self, planner: str) -> list[str]: ...


@dataclass(slots=True)
class Launch:
    step: str
    branch: int
    agent: str | None  # None: route it first
    compensation: bool = False


class Engine:
    def __init__(
        self,
        ctx: RunContext,
        spec: WorkflowSpec,
        data: Any,
        services: Services,
        *,
        tainted: bool = False,
    ):
        self.ctx = ctx
        self.spec = spec
        self.input = data
        #: The workflow's input came from a tainted run (a parent workflow's step).
        self.tainted_input = tainted
        self._upstream: dict[str, frozenset[str]] = {}
        self.services = services
        self.states = {s.id: StepState(s) for s in spec.steps}
        self.running: dict[str, Attempt] = {}
        self.queued: list[Retry] = []
        self.now = 0.0
        self.failure: str | None = None
        self.compensating: list[str] | None = None
        self.completed: list[str] = []
        self.plans: dict[str, WorkflowSpec] = {}
        self._noted: dict[str, str] = {}
        self.exprs = Exprs()

    # --- the loop -------------------------------------------------------------------
    async def run(self) -> Any:
        missing = [k for k in self.spec.inputs if not isinstance(self.input, dict)
                   or k not in self.input]  # fmt: skip
        if missing:
            raise WorkflowFailed(
                f"workflow {self.spec.name!r} is missing inputs: {', '.join(missing)}"
            )
        if any(s.timeout or s.retry.backoff for s in self.spec.steps):
            self.now = await self.ctx.now()
        while True:
            launches: list[Launch] = []
            if self.failure is None:
                await self._start_ready(launches)
                self._due(launches)
                if launches:
                    launches = await self._route(launches)
            if self.failure is not None:
                launches = []
                if self.compensating and not self.running:
                    sid = self.compensating.pop(0)
                    launches.append(Launch(sid, -1, None, compensation=True))
            if launches:
                await self._launch(launches)
            await calls.note(self)
            if not self.running and not (self.queued and self.failure is None):
                break
            until = self._next_deadline()
            res = await self.ctx.wait_any(list(self.running), until=until)
            self.now = res.now
            for outcome in res.ended:
                await self._ended(outcome)
            await self._expire()
        if self.failure is not None:
            raise WorkflowFailed(self.failure)
        return self._output()

    def _next_deadline(self) -> float | None:
        times = [a.deadline for a in self.running.values() if a.deadline is not None]
        if self.failure is None:
            times.extend(r.not_before for r in self.queued)
        return min(times) if times else None

    # --- starting steps ---------------------------------------------------------------
    def env(self, **extra: Any) -> dict[str, Any]:
        steps = {sid: st.view() for sid, st in self.states.items() if st.status != "pending"}
        return {"input": self.input, "steps": steps, **extra}

    async def _start_ready(self, launches: list[Launch]) -> None:
        changed = True
        while changed:
            changed = False
            for st in self.states.values():
                if st.status != "pending":
                    continue
                needs = [self.states[n] for n in st.spec.needs]
                if any(n.status not in SETTLED for n in needs):
                    continue
                changed = True
                await self._begin(st, needs, launches)

    async def _begin(self, st: StepState, needs: list[StepState], launches: list[Launch]) -> None:
        s = st.spec
        if needs and all(n.status in ("skipped", "compensated") for n in needs):
            st.status = "skipped"
            return
        try:
            env = self.env()
            if s.when is not None and not self.exprs.get(s.when)(env):
                st.status = "skipped"
                return
            if s.for_each is not None:
                items = self.exprs.get(s.for_each)(env)
                if not isinstance(items, list):
                    raise ExprError(
                        f"for_each {s.for_each!r} gave {type(items).__name__}, not a list"
                    )
                cap = self.ctx.kernel.limits.for_each
                if len(items) > cap:
                    raise ExprError(
                        f"for_each {s.for_each!r} gave {len(items)} items, over the limit of"
                        f" {cap} (limits.for_each)"
                    )
                st.items = items
        except ExprError as exc:  # the data did not fit the expression
            if s.on_failure == "continue":
                st.status, st.error = "failed", str(exc)
            else:
                await self._fail_step(st, str(exc))
            return
        st.status = "running"
        if s.planner is not None:
            try:
                self.plans[s.id] = await plan_workflow(self, st)
            except (ValueError, LookupError) as exc:
                await self._fail_step(st, f"planner {s.planner}: {exc}")
                return
        if s.loop is not None:
            st.iteration = 1
        if st.items == []:
            self._finish(st, fan_in(st))
            return
        for b in st.branches:
            launches.append(Launch(s.id, b, s.agent))

    def _due(self, launches: list[Launch]) -> None:
        keep = []
        for r in self.queued:
            if r.not_before <= self.now:
                launches.append(Launch(r.step, r.branch, r.agent))
            else:
                keep.append(r)
        self.queued = keep

    async def _launch(self, launches: list[Launch]) -> None:
        # In chunks: the first branches work while the next are created.
        for i in range(0, len(launches), SPAWN_CHUNK):
            await self._spawn(launches[i : i + SPAWN_CHUNK])

    async def _spawn(self, launches: list[Launch]) -> None:
        if self.ctx.replaying():  # the children exist: their ids come from the journal
            children = [("agent", ln.agent or "", None) for ln in launches]
        else:
            shared = calls.Shared()
            children = [calls.child(self, ln, shared) for ln in launches]
        started = await self.ctx.spawn(children, tainted=[self.taints(ln.step) for ln in launches])
        if not started.ok:  # policy refused the delegation: each launch fails like an attempt
            for ln in launches:
                st = self.states[ln.step]
                n = st.attempts.get(ln.branch, 0) + (0 if ln.compensation else 1)
                st.attempts[ln.branch] = n
                att = Attempt(ln.step, ln.branch, n, ln.agent, None, ln.compensation)
                await self._attempt_failed(st, att, f"delegation refused: {started.error}")
            return
        for rid, ln in zip(started.value, launches, strict=True):
            st = self.states[ln.step]
            n = st.attempts.get(ln.branch, 0) + (0 if ln.compensation else 1)
            if not ln.compensation:
                st.attempts[ln.branch] = n
                if ln.agent is not None:
                    st.tried.setdefault(ln.branch, []).append(ln.agent)
            deadline = self.now + st.spec.timeout if st.spec.timeout else None
            self.running[rid] = Attempt(ln.step, ln.branch, n, ln.agent, deadline, ln.compensation)

    async def _route(self, launches: list[Launch]) -> list[Launch]:
        """Choose agents for routed launches: one journaled ``route`` syscall per
        step. Launches nobody can take fail like attempts; the rest are returned."""
        by_step: dict[str, list[Launch]] = {}
        for ln in launches:
            st = self.states[ln.step]
            if ln.agent is None and not ln.compensation and st.spec.route is not None:
                by_step.setdefault(ln.step, []).append(ln)
        for sid, group in by_step.items():
            st = self.states[sid]
            route = st.spec.route
            assert route is not None
            exclude = sorted({a for ln in group for a in st.tried.get(ln.branch, [])})
            try:
                agents = await calls.route(self, sid, route, len(group), exclude)
            except calls.NoRoute as exc:
                for ln in group:
                    att = Attempt(sid, ln.branch, st.attempts.get(ln.branch, 0) + 1, None)
                    st.attempts[ln.branch] = att.attempt
                    await self._attempt_failed(st, att, str(exc))
                continue
            for ln, agent in zip(group, agents, strict=True):
                ln.agent = agent
        return [ln for ln in launches if ln.agent is not None or ln.compensation
                or self.states[ln.step].spec.route is None]  # fmt: skip

    def taints(self, sid: str) -> bool:
        """Whether a child of step ``sid`` gets untrusted content: from the
        workflow's input, the step's own earlier results (a loop, a retry, an
        undo), or a step upstream of it. Taint follows the data, so a step
        fed only by trusted steps is not tainted by a sibling that read the web."""
        if self.tainted_input or self.states[sid].tainted:
            return True
        up = self._upstream.get(sid)
        if up is None:
            up = self._upstream[sid] = upstream(self.spec, sid)
        return any(self.states[n].tainted for n in up)

    # --- children ending ---------------------------------------------------------------
    async def _ended(self, outcome: RunOutcome) -> None:
        att = self.running.pop(outcome.run_id, None)
        if att is None:
            return
        st = self.states[att.step]
        if outcome.tainted:  # its result, or its error, came from outside
            st.tainted = True
        if att.compensation:
            st.status = "compensated" if outcome.ok else st.status
            if not outcome.ok:
                self.failure = f"{self.failure}; compensating {st.spec.id} {outcome.status.value}"
            return
        if not outcome.ok:
            await self._attempt_failed(st, att, f"{outcome.target} {outcome.status.value}:"
                                                f" {outcome.error}")  # fmt: skip
            return
        kind = "workflow" if st.spec.workflow or st.spec.planner else "agent"
        result = step_result(outcome, reports=self.spec.reports, kind=kind)
        if st.spec.gate is not None:
            problems = await gates.evaluate(self, st, att, result)
            if problems:
                await self._gate_failed(st, att, problems)
                return
            st.feedback.pop(att.branch, None)
            st.gate_failures.pop(att.branch, None)
        self._branch_done(st, att.branch, result)

    async def _gate_failed(self, st: StepState, att: Attempt, problems: list[str]) -> None:
        """Send the step back to its agent with the gate's reasons while the
        gate's retries last; then the step failed, per its ``on_failure``."""
        gate = st.spec.gate
        assert gate is not None
        if self.failure is not None:
            return
        why = "its output failed the gate: " + "; ".join(problems)
        used = st.gate_failures[att.branch] = st.gate_failures.get(att.branch, 0) + 1
        if used <= gate.retries:
            st.feedback[att.branch] = why
            st.attempts[att.branch] = 0  # a new try, with its own retries
            self.queued.append(Retry(st.spec.id, att.branch, att.agent, self.now))
            return
        await self._give_up(st, att, why)

    def _branch_done(self, st: StepState, branch: int, result: dict[str, Any] | None) -> None:
        s = st.spec
        if st.items is not None:
            st.results[branch] = result
            if len(st.results) == len(st.items):
                self._finish(st, fan_in(st))
            return
        if s.loop is not None and result is not None:
            st.result = result
            try:
                env = self.env(loop={"iteration": st.iteration})
                env["steps"][s.id] = st.view()
                stop = bool(self.exprs.get(s.loop.until)(env))
            except ExprError as exc:
                st.error = str(exc)
                stop = True
            if not stop and st.iteration < s.loop.max_iterations:
                st.iteration += 1
                st.attempts[branch] = 0
                self.queued.append(Retry(s.id, branch, s.agent, self.now))
                return
            result = {**result, "exhausted": not stop}
        if result is None:
            st.status = "failed"
            return
        self._finish(st, result)

    def _finish(self, st: StepState, result: dict[str, Any]) -> None:
        st.result = result
        st.status = "succeeded"
        self.completed.append(st.spec.id)

    async def _expire(self) -> None:
        late = [rid for rid, a in self.running.items()
                if a.deadline is not None and a.deadline <= self.now]  # fmt: skip
        if not late:
            return
        await self.ctx.cancel_runs(late)
        for rid in late:
            att = self.running.pop(rid)
            timeout = self.states[att.step].spec.timeout
            await self._attempt_failed(self.states[att.step], att, f"timed out after {timeout:g} s")

    async def _attempt_failed(self, st: StepState, att: Attempt, error: str) -> None:
        s = st.spec
        used = st.attempts.get(att.branch, 1)
        if self.failure is not None:
            return
        if used < s.retry.max_attempts:
            delay = s.retry.backoff * (2 ** (used - 1))
            agent = s.agent if s.route is None else None
            self.queued.append(Retry(s.id, att.branch, agent, self.now + delay))
            return
        await self._give_up(st, att, error)

    async def _give_up(self, st: StepState, att: Attempt, error: str) -> None:
        """An attempt failed for good: the step's ``on_failure`` decides."""
        s = st.spec
        if s.on_failure == "reassign" and await self._reassign(st, att):
            return
        if s.on_failure == "escalate":
            answer = await calls.escalate(self, st, att, error)
            if answer is not None:
                self._branch_done(st, att.branch, answer)
                return
            error = f"{error}; escalated, and the person reported it not done"
        if s.on_failure == "continue":
            st.error = error
            if st.items is not None:
                self._branch_done(st, att.branch, None)
            else:
                st.status = "failed"
            return
        await self._fail_step(st, error)

    async def _reassign(self, st: StepState, att: Attempt) -> bool:
        s = st.spec
        tried = sorted(set(st.tried.get(att.branch, [])))
        if s.route is not None:
            route = s.route
        else:
            spec = await self.services.agent(self.ctx.run.workspace, s.agent or "")
            if not spec.capabilities:
                return False
            route = RouteSpec(capabilities=list(spec.capabilities))
        try:
            (agent,) = await calls.route(self, s.id, route, 1, tried)
        except calls.NoRoute:
            return False
        st.attempts[att.branch] = 0
        self.queued.append(Retry(s.id, att.branch, agent, self.now))
        return True

    async def _fail_step(self, st: StepState, error: str) -> None:
        st.status = "failed"
        st.error = error
        self.failure = f"step {st.spec.id} failed: {error}"
        self.queued.clear()
        if self.running:
            await self.ctx.cancel_runs(list(self.running))
            self.running.clear()
        if st.spec.on_failure == "compensate":
            self.compensating = [sid for sid in reversed(self.completed)
                                 if self.states[sid].spec.compensate is not None]  # fmt: skip
        else:
            self.compensating = []

    # --- records -----------------------------------------------------------------------
    def _output(self) -> Any:
        env = self.env()
        out = self.spec.output
        if out is None:
            return {sid: st.view()["output"] for sid, st in self.states.items()
                    if st.status == "succeeded"}  # fmt: skip
        if isinstance(out, str):
            return self.exprs.get(out)(env)
        return {k: self.exprs.get(v)(env) for k, v in out.items()}


__all__ = ["Engine", "Services", "StepSpec", "WorkflowFailed"]
