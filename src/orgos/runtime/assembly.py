"""What a runtime is made of: its specs, and the parts built from them.

``Assembly`` holds the specs a runtime was given (agents, workflows, custom
validators, the org) and checks at start that they fit together; the
functions below build the other parts of a runtime (its models, shared
workspace, governance) and read a project folder into a runtime's arguments.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orgos.config.chart import OrgChart
from orgos.config.org import OrgSpec
from orgos.config.specs import AgentSpec
from orgos.config.workflow import WorkflowSpec
from orgos.errors import ConfigError, NotFound
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.run_input import RunInput
from orgos.kernel.scheduler import Policy, Scheduler
from orgos.llm.base import Model
from orgos.llm.fallback import ModelOptions
from orgos.policy.spec import PolicySpec
from orgos.store import RunRecord, Store
from orgos.tools.base import Tool
from orgos.tools.registry import ToolRegistry
from orgos.tools.validators import Validator

if TYPE_CHECKING:
    from orgos.config.project import Project
    from orgos.fs.service import FileLimits
    from orgos.policy.governance import Governance


class Assembly:
    """The specs a runtime is made of and their checks.

    Owns the agents (their latest specs, and the version each was registered
    as at start), the workflows, the custom guardrail validators and the org;
    checks at start that they fit together (tools and validators known,
    workflows valid); builds the org chart and the scheduler they imply.
    Agents are added before the start only: a running runtime's agents, org
    chart and boundary check are fixed."""

    def __init__(
        self, org: OrgSpec, validators: Iterable[Validator], workflows: Iterable[WorkflowSpec]
    ) -> None:
        self.agents: dict[str, AgentSpec] = {}
        #: The version each agent was registered as at start (its answers are
        #: typed by its ``output_type`` only for runs of that version).
        self.versions: dict[str, int] = {}
        #: Custom guardrail validators (``@validator``), by name.
        self.validators: dict[str, Validator] = {v.name: v for v in validators}
        self.workflows: dict[str, WorkflowSpec] = {w.name: w for w in workflows}
        self.org = org
        self.chart: OrgChart | None = None
        #: Set at start: no agent is added after.
        self.fixed = False

    def add_agent(self, spec: AgentSpec, tools: ToolRegistry) -> None:
        """Add an agent (before the start); the Tool objects its ``tools``
        were given are registered in ``tools`` with it."""
        if self.fixed:
            raise ConfigError(
                f"cannot add agent {spec.name!r} to a started runtime: add agents before"
                " start() (or build a new Runtime); a running runtime's agents, org chart"
                " and boundary check are fixed at start"
            )
        for t in spec.tool_objects:
            have = tools.get(callable_tool(t).name)
            if have is None:
                tools[t.name] = t
            elif have is not t:
                raise ConfigError(
                    f"agent {spec.name!r} was given a tool {t.name!r} other than the one this"
                    " runtime has by that name; give one tool per name"
                )
        self.agents[spec.name] = spec

    def check(self, tools: ToolRegistry) -> None:
        """At start: every agent's tools and validators are known, every
        workflow is valid; then the org chart is built."""
        for spec in self.agents.values():
            missing = [t for t in spec.tools if t not in tools]
            if missing:
                raise ConfigError(f"agent {spec.name!r} uses unknown tools: {', '.join(missing)}")
            unknown = sorted((spec.guardrails.validators() if spec.guardrails else set())
                             - set(self.validators))  # fmt: skip
            if unknown:
                raise ConfigError(
                    f"agent {spec.name!r} uses unknown validators: {', '.join(unknown)};"
                    f" registered: {', '.join(sorted(self.validators)) or 'none'}"
                )
        self.chart = OrgChart(self.org, self.agents)
        for wf in self.workflows.values():
            self.check_workflow(wf)

    def check_workflow(self, wf: WorkflowSpec) -> None:
        from orgos.config.workflow_files import raise_problems

        raise_problems(wf, self.agents, self.workflows.keys(), validators=self.validators)

    async def register(self, registry: AgentRegistry, workspace: str) -> None:
        """Register every agent's spec; remember the version it got."""
        for spec in self.agents.values():
            self.versions[spec.name] = await registry.register(workspace, spec)

    def workflow(self, workflow: str | WorkflowSpec) -> WorkflowSpec:
        """A workflow by name, or a spec given now (checked, then known by its name)."""
        if isinstance(workflow, WorkflowSpec):
            self.check_workflow(workflow)
            self.workflows.setdefault(workflow.name, workflow)
            return workflow
        if workflow in self.workflows:
            return self.workflows[workflow]
        known = ", ".join(sorted(self.workflows)) or "none"
        raise NotFound(f"no workflow named {workflow!r}; workflows: {known}")

    def needs_scheduler(self) -> bool:
        return bool(self.org.teams) or any(a.max_concurrent for a in self.agents.values())

    def scheduler(self, store: Store) -> Scheduler:
        """Per-agent limits and fair share between teams, from the specs."""
        source = store.scheduling

        def policy() -> Policy:
            agents = self.agents
            return Policy(
                agent_limit={n: a.max_concurrent for n, a in agents.items() if a.max_concurrent},
                team_of={n: a.team for n, a in agents.items() if a.team},
                share={t.name: t.share for t in self.org.teams},
            )

        return Scheduler(policy, source)

    def delegates_of(self, spec: AgentSpec) -> list[str]:
        """An agent's ``delegates``, else who the org chart lets it delegate to."""
        if spec.delegates is not None or self.chart is None:
            return list(spec.delegates or [])
        return self.chart.may_delegate(spec.name)

    def answer_type(self, rec: RunRecord, workspace: str) -> type[BaseModel] | None:
        """The class of a run's answer: its agent's ``output_type``, for runs
        of the version registered here and not asked for a report."""
        spec = self.agents.get(rec.target)
        if (
            spec is None
            or rec.workspace != workspace
            or self.versions.get(rec.target) != rec.target_version
            or (isinstance(rec.input, dict) and RunInput.read(rec.input).report)
        ):
            return None
        return spec.output_type


def callable_tool(tool: Tool) -> Tool:
    """``tool``, when a run may call it as a tool syscall: a context tool
    (a service's, like the workspace's) is given to agents by its service."""
    if tool.context:
        raise ConfigError(
            f"tool {tool.name!r} takes a run context (context=True): its service gives it to"
            " agents; it cannot be registered as a tool of its own"
        )
    return tool


def model_map(models: Model | Mapping[str, Model] | None) -> dict[str, Model]:
    """Models by key: one model alone is the ``default``."""
    if isinstance(models, Mapping):
        return dict(models)
    return {} if models is None else {"default": models}


def build_governance(
    governance: Governance | PolicySpec | bool | None,
    org: OrgSpec,
    agents: dict[str, AgentSpec],
) -> Governance | None:
    """The governance a runtime was asked for (True: the default policy), or None."""
    if governance is None or governance is False:
        return None
    from orgos.policy import Governance as Gov

    if isinstance(governance, Gov):
        return governance
    return Gov(governance if isinstance(governance, PolicySpec) else None)


def project_arguments(project: Project, overrides: dict[str, Any]) -> dict[str, Any]:
    """A runtime's arguments for a project folder, ``overrides`` applied
    (``env`` and ``models`` read from them first)."""
    from orgos.fs.people import StaticRoles
    from orgos.llm.select import model_options
    from orgos.memory.embed import build_embedder

    env = overrides.pop("env", None)
    env_map = dict(os.environ if env is None else env)
    models = overrides.pop("models", None)
    if models is None:
        models = _project_models(project, env_map)
    present = models if isinstance(models, Mapping) else {"default": models}
    spec, mem = project.spec, project.spec.memory
    kwargs: dict[str, Any] = {
        "embedder": build_embedder(mem.embeddings, env_map) if mem.search != "keyword" else None,
        "memory_search": mem.search,
        "org": project.org,
        "people": StaticRoles.from_project(project.root),
        "file_limits": _file_limits(project),
        "store": project.store_url(),
        "agents": project.agents.values(),
        "tools": project.tools.values(),
        "validators": project.validators.values(),
        "models": models,
        "model_options": model_options(spec.models, present),
        "workspace": spec.workspace,
        "durability": spec.durability,
        "max_active": spec.max_active_runs,
        "model_timeout": spec.model_timeout,
        "limits": spec.limits,
        "env": env_map,
        "workflows": project.workflows.values(),
    }
    if "governance" not in overrides:
        from orgos.policy import Governance

        kwargs["governance"] = Governance(
            project.root / spec.policy, vault_key_file=project.root / ".orgos" / "vault.key"
        )
    kwargs.update(overrides)
    return kwargs


def _project_models(project: Project, env: dict[str, str]) -> dict[str, Model]:
    """The models a project's ``orgos.yaml`` names (fallback chains checked first)."""
    from orgos.llm.fallback import check_fallbacks
    from orgos.llm.select import build_model

    configs = project.spec.models
    check_fallbacks(configs, {k: ModelOptions(fallback=tuple(c.fallback))
                              for k, c in configs.items()})  # fmt: skip
    return {key: build_model(entry, env) for key, entry in configs.items()}


def _file_limits(project: Project) -> FileLimits:
    from orgos.fs.service import FileLimits

    files = project.spec.files
    return FileLimits(
        int(files.max_file_mb * 2**20),
        None if files.quota_mb is None else int(files.quota_mb * 2**20),
    )


def local_default(
    store: Store | str | Path | None, workspace: str | None
) -> tuple[Store | str | Path, str]:
    """The store and workspace a runtime uses: the given ones, else those
    ``orgos`` commands in the working directory use."""
    if store is None:
        from orgos.config.project import local_store

        store, found = local_store(Path.cwd())
        workspace = workspace or found
    return store, workspace or "default"
