"""The "workflow" run kind, and the runtime services its engine uses.

A workflow run's input carries the spec it runs (``{"workflow": spec,
"input": data}``), so a run keeps the spec it started with whatever happens
to the files, and a planner's generated graph runs the same way as a written
one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from orgos.config.chart import OrgChart
from orgos.config.specs import AgentSpec
from orgos.config.workflow import RouteSpec, WorkflowSpec
from orgos.errors import NotFound
from orgos.kernel.context import RunContext
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.run_input import RunInput
from orgos.org.routing import Router
from orgos.tools.validators import Validator
from orgos.workflows.engine import Engine


class RuntimeServices:
    """The engine's window on the runtime: specs, routing, the org chart."""

    def __init__(
        self,
        registry: AgentRegistry,
        agents: Callable[[], Mapping[str, AgentSpec]],
        workflows: Mapping[str, WorkflowSpec],
        router: Router,
        chart: Callable[[], OrgChart | None],
        validators: Mapping[str, Validator] | None = None,
    ):
        self.registry = registry
        #: Custom validators gate criteria may name (the runtime's, shared).
        self.validators: Mapping[str, Validator] = {} if validators is None else validators
        self._agents = agents
        self.workflows = workflows
        self.router = router
        self._chart = chart

    def workflow(self, name: str) -> WorkflowSpec:
        spec = self.workflows.get(name)
        if spec is None:
            raise NotFound(f"no workflow named {name!r}")
        return spec

    async def agent(self, workspace: str, name: str) -> AgentSpec:
        return await self.registry.get(workspace, name)

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
        return await self.router.choose(workspace, route, n, exclude, pick=pick, within=within)

    def within(self, supervisor: str) -> list[str] | None:
        """Whom the org chart lets ``supervisor`` hand work to (None: the
        chart places nobody under it, so any capable agent)."""
        chart = self._chart()
        allowed = chart.may_delegate(supervisor) if chart is not None else []
        return allowed or None

    def escalation_target(self, agent: str | None) -> str:
        chart = self._chart()
        if chart is not None and agent is not None:
            chain = chart.escalation_chain(agent)
            people = [p for p in chain if p not in chart.agents]
            if people:
                return people[0]
        return "the operator"

    def plan_agents(self, planner: str) -> list[str]:
        chart = self._chart()
        if chart is not None:
            allowed = chart.may_delegate(planner)
            if allowed:
                return allowed
        return sorted(a for a in self._agents() if a != planner)


class WorkflowProgram:
    """The "workflow" run kind."""

    def __init__(self, services: RuntimeServices):
        self.services = services

    async def resolve_version(self, workspace: str, target: str) -> int:
        spec = self.services.workflows.get(target)
        if spec is not None:
            return spec.version
        if target.endswith("-plan"):  # a planner's graph, carried in the run's input
            return 1
        raise NotFound(f"no workflow named {target!r}")

    async def __call__(self, ctx: RunContext) -> Any:
        raw = ctx.run.input
        inp = RunInput.read(raw) if isinstance(raw, dict) else RunInput()
        spec = WorkflowSpec.model_validate(inp.workflow)
        data = inp.input or {}
        return await Engine(ctx, spec, data, self.services, tainted=inp.tainted).run()


def workflow_input(spec: WorkflowSpec, data: Any) -> dict[str, Any]:
    """The input of a workflow run: the spec it runs, and its data."""
    return RunInput(workflow=spec.model_dump(mode="json"), input=data).to_dict()
