"""Runtime: the kernel assembled with a store, models, tools and agents.

No global state: everything lives on a Runtime, built from a project folder
or from Python, and a test can run several side by side.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orgos.agents.answers import typed_answer
from orgos.agents.loop import AgentProgram
from orgos.config.chart import OrgChart
from orgos.config.limits import Limits
from orgos.config.org import OrgSpec
from orgos.config.specs import AgentSpec
from orgos.config.workflow import WorkflowSpec
from orgos.errors import ConfigError, NotFound, RunFailed
from orgos.kernel.kernel import Kernel
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.run_input import RunInput
from orgos.kernel.scheduler import Policy, Scheduler
from orgos.llm.base import Model
from orgos.llm.fallback import ModelOptions
from orgos.org.routing import Router
from orgos.policy.spec import PolicySpec
from orgos.redact import LogScope, open_log_scope
from orgos.store import Durability, JournalEntry, RunFilter, RunRecord, Store, open_store
from orgos.store.base import RunStatus
from orgos.tools.base import Tool
from orgos.tools.validators import Validator

if TYPE_CHECKING:
    from orgos.policy.governance import Governance
from orgos.workflows.program import RuntimeServices, WorkflowProgram, workflow_input

if TYPE_CHECKING:
    from orgos.bus.service import Bus
    from orgos.fs.people import RoleLookup
    from orgos.fs.service import FileLimits, Files
    from orgos.memory.embed import Embedder
    from orgos.memory.service import Memory, SearchMode
    from orgos.shared import SharedWorkspace


class Runtime:
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
        """``adopt``: work on any unfinished run of the store (a worker; the
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
        if store is None:
            from orgos.config.project import local_store

            store, found = local_store(Path.cwd())
            workspace = workspace or found
        workspace = workspace or "default"
        if isinstance(store, str | Path):
            store = open_store(str(store), Durability(durability))
        self.store: Store = store
        self.workspace = workspace
        self.recover = recover
        self._env = dict(os.environ if env is None else env)
        self._open = False
        self._log_scope: LogScope | None = None
        self._agents: dict[str, AgentSpec] = {}
        #: The version each agent was registered as at start (its answers are
        #: typed by its ``output_type`` only for runs of that version).
        self._versions: dict[str, int] = {}
        if isinstance(models, Mapping):
            model_map = dict(models)
        elif models is not None:
            model_map = {"default": models}
        else:
            model_map = {}
        self.registry = AgentRegistry(self.store)
        #: Custom guardrail validators (``@validator``), by name.
        self.validators: dict[str, Validator] = {v.name: v for v in validators}
        self.org = org or OrgSpec()
        self.chart: OrgChart | None = None
        self._workflows: dict[str, WorkflowSpec] = {w.name: w for w in workflows}
        #: Routing and the agents' circuit breakers (no model, no kernel: a
        #: supervisor's choice is a syscall of the run that routes).
        self.router = Router(lambda: self._agents, self.store.loads)
        agent_program = AgentProgram(
            self.registry, self.validators, self._delegates_of, self.router
        )
        self.kernel = Kernel(
            self.store,
            workspace=workspace,
            workspaces=tuple(workspaces),
            models=model_map,
            model_options=model_options,
            tools={t.name: t for t in map(_callable, tools)},
            programs={"agent": agent_program},
            max_active=max_active,
            lease_ttl=lease_ttl,
            poll_interval=poll_interval,
            model_timeout=model_timeout,
            model_retries=model_retries,
            retry_backoff=retry_backoff,
            tune_gc=tune_gc,
            drain_timeout=drain_timeout,
            adopt=adopt,
            limits=limits,
        )
        self.kernel.on_run_end.append(self.router.observe)
        for spec in agents:
            self.add_agent(spec)
        services = RuntimeServices(
            self.registry, lambda: self._agents, self._workflows, self.router, lambda: self.chart,
            self.validators,
        )  # fmt: skip
        self.kernel.programs["workflow"] = WorkflowProgram(services)
        #: Files, memory and bus (on the store's repositories); see orgos.shared.
        from orgos.shared import SharedWorkspace

        self.shared: SharedWorkspace | None = SharedWorkspace(
            self.store, self.kernel, self.registry, workspace=workspace,
            teams={t.name: t for t in self.org.teams}, people=people, limits=file_limits,
            embedder=embedder, memory_search=memory_search,
        )  # fmt: skip
        self.kernel.blobs = self.store.blobs  # where tool results too large are kept
        self.governance: Governance | None = None
        if governance is not None and governance is not False:
            from orgos.config.chart import OrgChart
            from orgos.policy import Governance as Gov

            gov = (
                governance
                if isinstance(governance, Gov)
                else Gov(governance if isinstance(governance, PolicySpec) else None)
            )
            chart = OrgChart(org or OrgSpec(), self._agents)
            gov.install(self.kernel, self._agents, chart)
            self.governance = gov
        # Last of the before-hooks: a breaker's trial is taken only by a call
        # that policy let through.
        self.kernel.pipeline.add_before(self.router.check, kinds=["delegate"])

    @classmethod
    def from_project(cls, root: str | Path = ".", **overrides: Any) -> Runtime:
        """A runtime for a project folder (orgos.yaml, agents/, tools.py)."""
        from orgos.config.project import load_project
        from orgos.llm.fallback import check_fallbacks
        from orgos.llm.select import build_model, model_options

        project = load_project(Path(root))
        env = overrides.pop("env", None)
        env_map = dict(os.environ if env is None else env)
        models = overrides.pop("models", None)
        configs = project.spec.models
        if models is None:
            check_fallbacks(configs, {k: ModelOptions(fallback=tuple(c.fallback))
                                      for k, c in configs.items()})  # fmt: skip
            models = {key: build_model(entry, env_map) for key, entry in configs.items()}
        present = models if isinstance(models, Mapping) else {"default": models}
        from orgos.fs.people import StaticRoles
        from orgos.fs.service import FileLimits

        files = project.spec.files
        limits = FileLimits(
            int(files.max_file_mb * 2**20),
            None if files.quota_mb is None else int(files.quota_mb * 2**20),
        )
        from orgos.memory.embed import build_embedder

        mem = project.spec.memory
        kwargs: dict[str, Any] = {
            "embedder": build_embedder(mem.embeddings, env_map)
            if mem.search != "keyword"
            else None,
            "memory_search": mem.search,
            "org": project.org,
            "people": StaticRoles.from_project(project.root),
            "file_limits": limits,
            "store": project.store_url(),
            "agents": project.agents.values(),
            "tools": project.tools.values(),
            "validators": project.validators.values(),
            "models": models,
            "model_options": model_options(configs, present),
            "workspace": project.spec.workspace,
            "durability": project.spec.durability,
            "max_active": project.spec.max_active_runs,
            "model_timeout": project.spec.model_timeout,
            "limits": project.spec.limits,
            "env": env_map,
            "workflows": project.workflows.values(),
        }
        if "governance" not in overrides:
            from orgos.policy import Governance

            kwargs["governance"] = Governance(
                project.root / project.spec.policy,
                vault_key_file=project.root / ".orgos" / "vault.key",
            )
        kwargs.update(overrides)
        rt = cls(**kwargs)
        rt.project_root = project.root
        return rt

    project_root: Path | None = None

    async def approve(
        self, approval_id: str, *, by: str, note: str | None = None, arguments: Any = None
    ) -> None:
        """Approve a parked call (``arguments``: edited ones); the run goes on."""
        await self._gov().decide(approval_id, approve=True, by=by, note=note, arguments=arguments)

    async def deny(self, approval_id: str, *, by: str, note: str | None = None) -> None:
        """Deny a parked call; the run goes on and its model reads the denial."""
        await self._gov().decide(approval_id, approve=False, by=by, note=note)

    def _gov(self) -> Governance:
        if self.governance is None:
            raise ConfigError("this runtime has no governance (Runtime(governance=...))")
        return self.governance

    # --- assembly ------------------------------------------------------------------
    def add_agent(self, spec: AgentSpec) -> None:
        """Add an agent before the runtime starts (its start registers it,
        builds the org chart and checks the workspace boundary). The Tool
        objects its ``tools`` were given are registered with it."""
        if self._open:
            raise ConfigError(
                f"cannot add agent {spec.name!r} to a started runtime: add agents before"
                " start() (or build a new Runtime); a running runtime's agents, org chart"
                " and boundary check are fixed at start"
            )
        for t in spec.tool_objects:
            have = self.kernel.tools.get(_callable(t).name)
            if have is None:
                self.kernel.tools[t.name] = t
            elif have is not t:
                raise ConfigError(
                    f"agent {spec.name!r} was given a tool {t.name!r} other than the one this"
                    " runtime has by that name; give one tool per name"
                )
        self._agents[spec.name] = spec

    def add_tool(self, tool: Tool) -> None:
        """Register a tool, or replace the one of its name (runs see the new
        one, schema and function, from their next step)."""
        self.kernel.tools[_callable(tool).name] = tool

    def add_validator(self, validator: Validator) -> None:
        self.validators[validator.name] = validator

    def add_workflow(self, spec: WorkflowSpec) -> None:
        self._workflows[spec.name] = spec

    @property
    def workflows(self) -> dict[str, WorkflowSpec]:
        return dict(self._workflows)

    def _scheduler(self) -> Scheduler | None:
        """Per-agent limits and fair share between teams, from the specs."""
        source = self.store.scheduling

        def policy() -> Policy:
            agents = self._agents
            return Policy(
                agent_limit={n: a.max_concurrent for n, a in agents.items() if a.max_concurrent},
                team_of={n: a.team for n, a in agents.items() if a.team},
                share={t.name: t.share for t in self.org.teams},
            )

        return Scheduler(policy, source)

    def _delegates_of(self, spec: AgentSpec) -> list[str]:
        """An agent's ``delegates``, else who the org chart lets it delegate to."""
        if spec.delegates is not None or self.chart is None:
            return list(spec.delegates or [])
        return self.chart.may_delegate(spec.name)

    @property
    def tools(self) -> dict[str, Tool]:
        return self.kernel.tools

    @property
    def agents(self) -> dict[str, AgentSpec]:
        """The agent specs this runtime was given (their latest versions)."""
        return dict(self._agents)

    async def start(self) -> None:
        if self._open:
            return
        for spec in self._agents.values():
            missing = [t for t in spec.tools if t not in self.kernel.tools]
            if missing:
                raise ConfigError(f"agent {spec.name!r} uses unknown tools: {', '.join(missing)}")
            unknown = sorted((spec.guardrails.validators() if spec.guardrails else set())
                             - set(self.validators))  # fmt: skip
            if unknown:
                raise ConfigError(
                    f"agent {spec.name!r} uses unknown validators: {', '.join(unknown)};"
                    f" registered: {', '.join(sorted(self.validators)) or 'none'}"
                )
        self.chart = OrgChart(self.org, self._agents)
        if self.governance is not None:
            self.governance.adopt(self.chart, self._agents)
        if self.kernel.scheduler is None and (
            self.org.teams or any(a.max_concurrent for a in self._agents.values())
        ):
            self.kernel.scheduler = self._scheduler()
        from orgos.config.workflow_files import raise_problems

        for wf in self._workflows.values():
            raise_problems(wf, self._agents, self._workflows.keys(), validators=self.validators)
        if not self.kernel.models:
            from orgos.llm.select import build_model

            self.kernel.models["default"] = build_model(None, self._env)
        from orgos.llm.fallback import check_fallbacks

        check_fallbacks(self.kernel.models, self.kernel.model_options)
        await self.store.open()
        for spec in self._agents.values():
            self._versions[spec.name] = await self.registry.register(self.workspace, spec)
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
        self._open = True

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
        if isinstance(workflow, WorkflowSpec):
            from orgos.config.workflow_files import raise_problems

            raise_problems(
                workflow, self._agents, self._workflows.keys(), validators=self.validators
            )
            self._workflows.setdefault(workflow.name, workflow)
            spec = workflow
        elif workflow in self._workflows:
            spec = self._workflows[workflow]
        else:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise NotFound(f"no workflow named {workflow!r}; workflows: {known}")
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
        return typed_answer(await self.kernel.wait(rec.id, timeout=timeout), self._answer_types)

    async def wait(self, run_id: str, *, timeout: float | None = None) -> RunRecord:
        """Wait for a run to end (or park for a person); typed like ``run``'s."""
        return typed_answer(await self.kernel.wait(run_id, timeout=timeout), self._answer_types)

    async def result(self, run_id: str, *, timeout: float | None = None) -> Any:
        """The output of a run that succeeded (typed like ``run``'s); RunFailed otherwise."""
        rec = await self.wait(run_id, timeout=timeout)
        if rec.status is not RunStatus.SUCCEEDED:
            raise RunFailed(f"run {run_id} {rec.status.value}: {rec.error}")
        return rec.output

    def _answer_types(self, rec: RunRecord) -> type[BaseModel] | None:
        """The class of a run's answer: its agent's ``output_type``, for runs
        of the version this runtime registered and not asked for a report."""
        spec = self._agents.get(rec.target)
        if (
            spec is None
            or rec.workspace != self.workspace
            or self._versions.get(rec.target) != rec.target_version
            or (isinstance(rec.input, dict) and RunInput.read(rec.input).report)
        ):
            return None
        return spec.output_type

    async def cancel(self, run_id: str) -> list[str]:
        return await self.kernel.cancel(run_id)

    async def resume(self, run_id: str) -> bool:
        return await self.kernel.resume(run_id)

    async def decide(
        self, run_id: str, action: str, value: Any = None, *, by: str = "local"
    ) -> None:
        """Answer for a call in doubt after a crash (retry, done, not-done),
        as ``by``: with governance, a person who may decide approvals once the
        workspace has people. Journaled and audited with who answered."""
        if self.governance is not None:
            await self.governance.may_decide(by)
        await self.kernel.decide(run_id, action, value, by=by)

    async def get_run(self, run_id: str) -> RunRecord:
        """A run by its id (or the first characters of it); typed like ``run``'s."""
        rec = await self.store.get_run(self.workspace, run_id)
        if rec is None:
            rec = await self._by_prefix(run_id)
        return typed_answer(rec, self._answer_types)

    async def _by_prefix(self, prefix: str) -> RunRecord:
        matches = await self.store.list_runs(RunFilter(self.workspace, id_prefix=prefix, limit=2))
        if len(matches) != 1:
            why = "no run" if not matches else "several runs"
            raise NotFound(f"{why} matching {prefix!r}")
        return matches[0]

    async def runs(self, *, limit: int = 50, top_level_only: bool = True) -> list[RunRecord]:
        return await self.store.list_runs(
            RunFilter(self.workspace, top_level_only=top_level_only, limit=limit)
        )

    async def tree(self, run_id: str) -> list[RunRecord]:
        """The run and all its descendants."""
        root = await self.get_run(run_id)
        if root.root_id == root.id:
            return await self.store.list_runs(
                RunFilter(self.workspace, root_id=root.id, limit=100_000)
            )
        out, frontier = [root], [root.id]
        while frontier:
            kids = await self.store.list_runs(
                RunFilter(self.workspace, parent_id=frontier.pop(), limit=100_000)
            )
            out.extend(kids)
            frontier.extend(k.id for k in kids)
        return out

    async def journal(self, run_id: str) -> list[JournalEntry]:
        return await self.store.load_journal(run_id)


def _callable(tool: Tool) -> Tool:
    """``tool``, when a run may call it as a tool syscall: a context tool
    (a service's, like the workspace's) is given to agents by its service."""
    if tool.context:
        raise ConfigError(
            f"tool {tool.name!r} takes a run context (context=True): its service gives it to"
            " agents; it cannot be registered as a tool of its own"
        )
    return tool
