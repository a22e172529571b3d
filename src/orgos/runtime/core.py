"""Runtime: the kernel assembled with a store, models, tools and agents.

No global state: everything lives on a Runtime, built from a project folder
or from Python, and a test can run several side by side.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orgos.agents.answers import typed_answer
from orgos.agents.loop import AgentProgram
from orgos.config.limits import Limits
from orgos.config.org import OrgSpec
from orgos.config.specs import AgentSpec
from orgos.config.workflow import WorkflowSpec
from orgos.errors import ConfigError, RunFailed
from orgos.kernel.kernel import Kernel
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.run_input import RunInput
from orgos.llm.base import Model
from orgos.llm.fallback import ModelOptions
from orgos.org.routing import Router
from orgos.policy.spec import PolicySpec
from orgos.redact import LogScope, open_log_scope
from orgos.runtime.assembly import (
    Assembly,
    build_governance,
    callable_tool,
    local_default,
    model_map,
    project_arguments,
)
from orgos.runtime.control import Control
from orgos.runtime.history import RunHistory
from orgos.store import Durability, RunRecord, Store, open_store
from orgos.store.base import RunStatus
from orgos.tools.base import Tool
from orgos.tools.validators import Validator
from orgos.workflows.program import RuntimeServices, WorkflowProgram, workflow_input

if TYPE_CHECKING:
    from orgos.bus.service import Bus
    from orgos.config.chart import OrgChart
    from orgos.fs.people import RoleLookup
    from orgos.fs.service import FileLimits, Files
    from orgos.memory.embed import Embedder
    from orgos.memory.service import Memory, SearchMode
    from orgos.policy.governance import Governance
    from orgos.shared import SharedWorkspace


class Runtime:
    """A kernel assembled with a store, models, tools, agents and services.

    Its parts: ``assembly`` (the specs it was given and their checks),
    ``kernel``, ``router``, ``shared`` (files, memory, bus), ``governance``,
    ``control`` (approve, deny, decide, cancel, resume) and ``history``
    (runs, trees, journals). Here: building, starting and stopping it,
    registering what it runs, and starting and awaiting runs.

    ``adopt``: work on any unfinished run of the store (a worker; the
    default), or only on the run trees this runtime starts or follows.
    ``drain_timeout``: how long a clean stop lets unrepeatable calls in
    flight finish (so they are not left in doubt).
    ``governance``: policy, approvals, budgets, kill switches, vault and
    audit in the syscall pipeline (True: with the default policy).
    ``model_options``: per model key, its retries and fallback chain
    (what ``orgos.yaml``'s ``models`` say).

    The shared workspace (``files``, ``memory``, ``bus``): ``org`` gives the
    teams and their grants, ``people`` the roles for ``orgos fs``,
    ``file_limits`` the size limits, ``embedder`` and ``memory_search``
    how recall searches (keyword unless an embedder is given).

    ``workspaces``: more workspaces whose runs this runtime's worker
    claims (an instance's shared worker); by default it sees only its own.
    ``limits``: bounds on delegation depth, runs per tree, tool calls per
    reply, answer and tool result sizes, ``for_each`` (sane by default).

    ``store`` and ``workspace`` unset: the ones ``orgos`` commands in the
    working directory use (the project's at or above it, else
    ``.orgos/orgos.db`` there), so the CLI reads what this runtime writes.
    ``tune_gc``: pace the process's garbage collector for thousands of
    runs in flight (the host's choice, hence off by default)."""

    def __init__(
        self,
        *,
        store: Store | str | Path | None = None,
        agents: Iterable[AgentSpec] = (),
        tools: Iterable[Tool] = (),
        models: Model | Mapping[str, Model] | None = None,
        model_options: Mapping[str, ModelOptions] | None = None,
        workspace: str | None = None,
        workspaces: Iterable[str] = (),
        durability: Durability | str = Durability.KILL_SAFE,
        max_active: int = 1000,
        model_timeout: float = 120.0,
        model_retries: int = 4,
        retry_backoff: float = 0.5,
        lease_ttl: float = 10.0,
        poll_interval: float = 0.5,
        recover: bool = True,
        tune_gc: bool = False,
        adopt: bool = True,
        drain_timeout: float = 10.0,
        env: Mapping[str, str] | None = None,
        governance: Governance | PolicySpec | bool | None = None,
        org: OrgSpec | None = None,
        validators: Iterable[Validator] = (),
        workflows: Iterable[WorkflowSpec] = (),
        people: RoleLookup | None = None,
        file_limits: FileLimits | None = None,
        embedder: Embedder | None = None,
        memory_search: SearchMode = "keyword",
        limits: Limits | None = None,
    ):
        store, workspace = local_default(store, workspace)
        if isinstance(store, str | Path):
            store = open_store(str(store), Durability(durability))
        self.store: Store = store
        self.workspace = workspace
        self.recover = recover
        self._env = dict(os.environ if env is None else env)
        self._open = False
        self._log_scope: LogScope | None = None
        self.assembly = Assembly(org or OrgSpec(), validators, workflows)
        self.validators = self.assembly.validators
        self.org = self.assembly.org
        self.registry = AgentRegistry(self.store)
        #: Routing and the agents' circuit breakers (no model, no kernel: a
        #: supervisor's choice is a syscall of the run that routes).
        self.router = Router(lambda: self.assembly.agents, self.store.loads)
        self.kernel = Kernel(
            self.store, workspace=workspace, workspaces=tuple(workspaces),
            models=model_map(models), model_options=model_options,
            tools={t.name: t for t in map(callable_tool, tools)},
            max_active=max_active, lease_ttl=lease_ttl, poll_interval=poll_interval,
            model_timeout=model_timeout, model_retries=model_retries,
            retry_backoff=retry_backoff, tune_gc=tune_gc, drain_timeout=drain_timeout,
            adopt=adopt, limits=limits,
        )  # fmt: skip
        for spec in agents:
            self.add_agent(spec)
        self._install_programs()
        #: Files, memory and bus (on the store's repositories); see orgos.shared.
        self.shared: SharedWorkspace | None = self._shared_workspace(
            people, file_limits, embedder, memory_search
        )
        self.governance = build_governance(governance, self.org, self.assembly.agents)
        self._install_services()
        self.control = Control(self.kernel, self.governance)
        self.history = RunHistory(self.store, self.workspace, self._typed)

    def _install_programs(self) -> None:
        """The programs of agent and workflow runs."""
        a = self.assembly
        self.kernel.programs["agent"] = AgentProgram(
            self.registry, a.validators, a.delegates_of, self.router
        )
        services = RuntimeServices(
            self.registry, lambda: a.agents, a.workflows, self.router, lambda: a.chart,
            a.validators,
        )  # fmt: skip
        self.kernel.programs["workflow"] = WorkflowProgram(services)

    def _shared_workspace(
        self,
        people: RoleLookup | None,
        file_limits: FileLimits | None,
        embedder: Embedder | None,
        memory_search: SearchMode,
    ) -> SharedWorkspace:
        from orgos.shared import SharedWorkspace

        shared = SharedWorkspace(
            self.store, self.kernel, self.registry, workspace=self.workspace,
            teams={t.name: t for t in self.org.teams}, people=people, limits=file_limits,
            embedder=embedder, memory_search=memory_search,
        )  # fmt: skip
        self.kernel.blobs = self.store.blobs  # where tool results too large are kept
        return shared

    def _install_services(self) -> None:
        """Routing and governance in the kernel's pipeline, in their order."""
        self.kernel.on_run_end.append(self.router.observe)
        if self.governance is not None:
            from orgos.config.chart import OrgChart

            agents = self.assembly.agents
            self.governance.install(self.kernel, agents, OrgChart(self.org, agents))
        # Last of the before-hooks: a breaker's trial is taken only by a call
        # that policy let through.
        self.kernel.pipeline.add_before(self.router.check, kinds=["delegate"])

    @classmethod
    def from_project(cls, root: str | Path = ".", **overrides: Any) -> Runtime:
        """A runtime for a project folder (orgos.yaml, agents/, tools.py)."""
        from orgos.config.project import load_project

        project = load_project(Path(root))
        rt = cls(**project_arguments(project, overrides))
        rt.project_root = project.root
        return rt

    project_root: Path | None = None

    # --- assembly ------------------------------------------------------------------
    def add_agent(self, spec: AgentSpec) -> None:
        """Add an agent before the runtime starts (its start registers it,
        builds the org chart and checks the workspace boundary). The Tool
        objects its ``tools`` were given are registered with it."""
        self.assembly.add_agent(spec, self.kernel.tools)

    def add_tool(self, tool: Tool) -> None:
        """Register a tool, or replace the one of its name (runs see the new
        one, schema and function, from their next step)."""
        self.kernel.tools[callable_tool(tool).name] = tool

    def add_validator(self, validator: Validator) -> None:
        self.assembly.validators[validator.name] = validator

    def add_workflow(self, spec: WorkflowSpec) -> None:
        self.assembly.workflows[spec.name] = spec

    @property
    def workflows(self) -> dict[str, WorkflowSpec]:
        return dict(self.assembly.workflows)

    @property
    def tools(self) -> dict[str, Tool]:
        return self.kernel.tools

    @property
    def agents(self) -> dict[str, AgentSpec]:
        """The agent specs this runtime was given (their latest versions)."""
        return dict(self.assembly.agents)

    @property
    def chart(self) -> OrgChart | None:
        """The org chart of the runtime's org and agents, built at start."""
        return self.assembly.chart

    async def start(self) -> None:
        if self._open:
            return
        a = self.assembly
        a.check(self.kernel.tools)
        if self.governance is not None:
            assert a.chart is not None
            self.governance.adopt(a.chart, a.agents)
        if self.kernel.scheduler is None and a.needs_scheduler():
            self.kernel.scheduler = a.scheduler(self.store)
        if not self.kernel.models:
            from orgos.llm.select import build_model

            self.kernel.models["default"] = build_model(None, self._env)
        from orgos.llm.fallback import check_fallbacks

        check_fallbacks(self.kernel.models, self.kernel.model_options)
        await self.store.open()
        await a.register(self.registry, self.workspace)
        a.fixed = True
        await self._start_parts()
        self._open = True

    async def _start_parts(self) -> None:
        # The orgos loggers' records made in this runtime's context (the
        # caller's, from here on, and every task of its kernel) are scrubbed
        # by its governance, and by no other runtime's.
        gov = self.governance
        self._log_scope = open_log_scope(gov.redact_log if gov is not None else None)
        try:
            await self.kernel.start(recover=self.recover)
            if gov is not None:
                await gov.start(background=self.recover)
            if self.shared is not None:
                await self.shared.start()
        except BaseException:
            self._log_scope.close()
            raise

    def _shared(self) -> SharedWorkspace:
        if self.shared is None:
            raise ConfigError("the shared workspace needs a SQLite store")
        return self.shared

    @property
    def files(self) -> Files:
        return self._shared().files

    @property
    def memory(self) -> Memory:
        return self._shared().memory

    @property
    def bus(self) -> Bus:
        return self._shared().bus

    async def close(self) -> None:
        if self._open:
            self._open = False
            if self.governance is not None:
                await self.governance.stop()
            await self.kernel.stop()
            if self._log_scope is not None:
                self._log_scope.close()
        await self.store.close()

    async def __aenter__(self) -> Runtime:
        try:
            await self.start()
        except BaseException:
            await self.store.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- runs -------------------------------------------------------------------------
    async def submit(self, agent: str, task: Any, *, priority: int = 0) -> RunRecord:
        """Start a run of ``agent`` on ``task`` (a string, or a dict with
        ``task`` and ``context``); returns once the run is durably recorded."""
        if isinstance(task, str):
            task = RunInput(task).to_dict()
        return await self.kernel.submit("agent", agent, task, priority=priority)

    async def submit_workflow(
        self, workflow: str | WorkflowSpec, data: Any = None, *, priority: int = 0
    ) -> RunRecord:
        """Start a run of a workflow (by name, or a spec) on ``data`` (its input)."""
        spec = self.assembly.workflow(workflow)
        data = {} if data is None else data
        missing = [k for k in spec.inputs if not isinstance(data, dict) or k not in data]
        if missing:
            raise ConfigError(f"workflow {spec.name!r} needs inputs: {', '.join(missing)}")
        inp = workflow_input(spec, data)
        return await self.kernel.submit("workflow", spec.name, inp, priority=priority)

    async def run_workflow(
        self, workflow: str | WorkflowSpec, data: Any = None, *, timeout: float | None = None
    ) -> RunRecord:
        """Start a workflow run and wait for it to end."""
        rec = await self.submit_workflow(workflow, data)
        return await self.kernel.wait(rec.id, timeout=timeout)

    async def run(self, agent: str, task: Any, *, timeout: float | None = None) -> RunRecord:
        """Start a run and wait for it to end. The answer of an agent whose
        ``output`` is a pydantic class is an instance of that class."""
        rec = await self.submit(agent, task)
        return self._typed(await self.kernel.wait(rec.id, timeout=timeout))

    async def wait(self, run_id: str, *, timeout: float | None = None) -> RunRecord:
        """Wait for a run to end (or park for a person); typed like ``run``'s."""
        return self._typed(await self.kernel.wait(run_id, timeout=timeout))

    async def result(self, run_id: str, *, timeout: float | None = None) -> Any:
        """The output of a run that succeeded (typed like ``run``'s); RunFailed otherwise."""
        rec = await self.wait(run_id, timeout=timeout)
        if rec.status is not RunStatus.SUCCEEDED:
            raise RunFailed(f"run {run_id} {rec.status.value}: {rec.error}")
        return rec.output

    async def get_run(self, run_id: str) -> RunRecord:
        """A run by its id (or the first characters of it); typed like ``run``'s."""
        return await self.history.get_run(run_id)

    def _typed(self, rec: RunRecord) -> RunRecord:
        """The record with its answer typed by its agent's ``output_type``."""
        return typed_answer(rec, lambda r: self.assembly.answer_type(r, self.workspace))
