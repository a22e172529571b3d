"""A project folder: orgos.yaml, agents/*.yaml and tools.py.

Loading checks the whole project up front (unknown tools, unknown delegates,
duplicate names) so that mistakes surface at load time with file and line,
not in the middle of a run.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orgos.config.chart import OrgChart
from orgos.config.loader import _line_of, load_file, read_yaml, validate
from orgos.config.org import OrgSpec
from orgos.config.specs import AgentSpec, ProjectSpec
from orgos.config.workflow import WorkflowSpec
from orgos.config.workflow_files import load_workflows
from orgos.errors import ConfigError
from orgos.tools.base import Tool
from orgos.tools.validators import Validator

PROJECT_FILE = "orgos.yaml"
#: Where a folder keeps its runs when no orgos.yaml says otherwise.
DEFAULT_STORE = Path(".orgos") / "orgos.db"


@dataclass
class Project:
    root: Path
    spec: ProjectSpec
    agents: dict[str, AgentSpec] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    #: Custom guardrail validators (``@validator``) of the tool files.
    validators: dict[str, Validator] = field(default_factory=dict)
    #: where each agent was defined, for error messages
    sources: dict[str, str] = field(default_factory=dict)
    org: OrgSpec = field(default_factory=OrgSpec)
    workflows: dict[str, WorkflowSpec] = field(default_factory=dict)

    def store_url(self) -> str:
        return _store_url(self.root, self.spec)


def _store_url(root: Path, spec: ProjectSpec) -> str:
    url = spec.store
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.is_absolute():
            path = root / path
        return f"sqlite:///{path}"
    return url


def _bare(folder: Path) -> bool:
    """A folder without orgos.yaml where a Runtime made from Python keeps
    its runs (``.orgos/orgos.db``): the CLI reads it as a project of defaults."""
    return not (folder / PROJECT_FILE).is_file() and (folder / DEFAULT_STORE).is_file()


def find_project(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding orgos.yaml; else
    ``start`` itself when it holds the runs of a Runtime made there."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    if _bare(start):
        return start
    raise ConfigError(f"no {PROJECT_FILE} in {start} or above; run `orgos init` or pass --project")


def local_store(start: Path) -> tuple[str, str]:
    """The store and workspace the ``orgos`` commands run in ``start`` use:
    those of the project at or above it, else ``.orgos/orgos.db`` in it and
    the default workspace. A Runtime made without a store uses these, so
    what it writes, the CLI lists."""
    start = start.resolve()
    for folder in (start, *start.parents):
        path = folder / PROJECT_FILE
        if path.is_file():
            spec = load_file(ProjectSpec, path)
            return _store_url(folder, spec), spec.workspace
    return f"sqlite:///{start / DEFAULT_STORE}", ProjectSpec().workspace


def load_project(root: Path) -> Project:
    root = root.resolve()
    path = root / PROJECT_FILE
    if _bare(root):  # no agents, tools or workflows of its own: what is in the store
        return Project(root, ProjectSpec(tools=[], agents=[], workflows=[]))
    if not path.is_file():
        raise ConfigError(f"{path}: not found; run `orgos init {root}` to create a project")
    project = Project(root, load_file(ProjectSpec, path))
    for rel in project.spec.tools:
        objects = _import(root / rel)
        for t in objects:
            if isinstance(t, Tool):
                if t.name in project.tools:
                    raise ConfigError(f"{root / rel}: tool {t.name!r} is defined twice")
                project.tools[t.name] = t
            elif isinstance(t, Validator):
                if t.name in project.validators:
                    raise ConfigError(f"{root / rel}: validator {t.name!r} is defined twice")
                project.validators[t.name] = t
    for rel in project.spec.agents:
        target = root / rel
        files = (
            sorted([*target.glob("*.yaml"), *target.glob("*.yml")]) if target.is_dir() else [target]
        )
        for f in files:
            _load_agents_file(project, f)
    org_path = root / project.spec.org
    if org_path.is_file():
        project.org = load_file(OrgSpec, org_path)
    check_references(project)
    try:
        OrgChart(project.org, project.agents)
    except ConfigError as exc:
        raise ConfigError(f"{org_path}: {exc}") from None
    project.workflows, _ = load_workflows(
        [root / w for w in project.spec.workflows], project.agents, project.validators.keys()
    )
    return project


def _load_agents_file(project: Project, path: Path) -> None:
    data, node = read_yaml(path)
    if data is None:
        return
    items: list[tuple[object, tuple[str | int, ...]]]
    if isinstance(data, dict) and "agents" in data and isinstance(data["agents"], list):
        items = [(d, ("agents", i)) for i, d in enumerate(data["agents"])]
    else:
        items = [(data, ())]
    for item, prefix in items:
        spec = validate(AgentSpec, item, path=path, node=node, loc_prefix=prefix)
        line = _line_of(node, prefix) or 1
        if spec.name in project.agents:
            raise ConfigError(
                f"{path}:{line}: agent {spec.name!r} is already defined in"
                f" {project.sources[spec.name]}"
            )
        project.agents[spec.name] = spec
        project.sources[spec.name] = f"{path}:{line}"
        _check_line_refs(project, spec, path, node, prefix)


def _check_line_refs(
    project: Project,
    spec: AgentSpec,
    path: Path,
    node: yaml.Node | None,
    prefix: tuple[str | int, ...],
) -> None:
    for i, name in enumerate(spec.tools):
        if name not in project.tools:
            line = _line_of(node, (*prefix, "tools", i))
            known = ", ".join(sorted(project.tools)) or "none"
            raise ConfigError(
                f"{path}:{line}: agent {spec.name!r} uses unknown tool {name!r};"
                f" known tools: {known}"
            )
    g = spec.guardrails
    unknown = sorted(g.validators() - set(project.validators)) if g is not None else []
    if unknown:
        line = _line_of(node, (*prefix, "guardrails")) or 1
        known = ", ".join(sorted(project.validators)) or "none"
        raise ConfigError(
            f"{path}:{line}: agent {spec.name!r} uses unknown validator {unknown[0]!r};"
            f" known validators: {known}"
        )


def check_references(project: Project) -> None:
    """Delegates must name agents of the project."""
    for spec in project.agents.values():
        for d in spec.delegates or ():
            if d not in project.agents:
                raise ConfigError(
                    f"{project.sources.get(spec.name, spec.name)}: agent {spec.name!r} delegates"
                    f" to unknown agent {d!r}; known agents: {', '.join(sorted(project.agents))}"
                )


def load_tools(path: Path) -> list[Tool]:
    """Import a Python file and collect its @tool functions."""
    return [v for v in _import(path) if isinstance(v, Tool)]


def _import(path: Path) -> list[object]:
    """Import a Python file; its top-level objects."""
    if not path.is_file():
        raise ConfigError(f"{path}: tool file not found")
    mod_name = f"orgos_project_tools_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{path}: importing failed: {type(exc).__name__}: {exc}") from exc
    return list(vars(module).values())
