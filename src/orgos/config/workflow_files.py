"""Workflow files: YAML in, a checked WorkflowSpec out, or a ConfigError that
names file, line and problem."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import yaml

from orgos.config.loader import _line_of, read_yaml, validate
from orgos.config.specs import AgentSpec
from orgos.config.workflow import WorkflowSpec
from orgos.config.workflow_check import check_workflow
from orgos.errors import ConfigError


def raise_problems(
    spec: WorkflowSpec,
    agents: Mapping[str, AgentSpec] | None,
    workflows: Collection[str] | None,
    *,
    path: Path | None = None,
    node: yaml.Node | None = None,
    validators: Collection[str] | None = None,
) -> None:
    problems = check_workflow(spec, agents, workflows, validators)
    if not problems:
        return
    lines = []
    for p in problems:
        if path is None:
            lines.append(f"workflow {spec.name!r}: {p.message}")
        else:
            line = _line_of(node, p.loc)
            lines.append(f"{path}:{line or 1}: {p.message}")
    raise ConfigError("\n".join(lines))


def read_workflow(path: Path) -> tuple[WorkflowSpec, yaml.Node | None]:
    """Parse and validate one file (the graph is checked by ``raise_problems``)."""
    data, node = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}:1: the file is empty")
    return validate(WorkflowSpec, data, path=path, node=node), node


def load_workflow(
    path: Path,
    agents: Mapping[str, AgentSpec] | None = None,
    workflows: Collection[str] | None = None,
    validators: Collection[str] | None = None,
) -> WorkflowSpec:
    spec, node = read_workflow(path)
    raise_problems(spec, agents, workflows, path=path, node=node, validators=validators)
    return spec


def load_workflows(
    paths: list[Path],
    agents: Mapping[str, AgentSpec],
    validators: Collection[str] | None = None,
) -> tuple[dict[str, WorkflowSpec], dict[str, str]]:
    """Every workflow of these files or folders, checked against the agents and
    each other (a sub-workflow must exist, and may not run its caller)."""
    read: dict[str, tuple[WorkflowSpec, yaml.Node | None, Path]] = {}
    for target in paths:
        if target.is_dir():
            files = sorted([*target.glob("*.yaml"), *target.glob("*.yml")])
        elif target.is_file():
            files = [target]
        else:
            continue
        for f in files:
            spec, node = read_workflow(f)
            if spec.name in read:
                raise ConfigError(
                    f"{f}:1: workflow {spec.name!r} is already defined in {read[spec.name][2]}"
                )
            read[spec.name] = (spec, node, f)
    for spec, node, f in read.values():
        raise_problems(spec, agents, read.keys(), path=f, node=node, validators=validators)
    specs = {name: s for name, (s, _, _) in read.items()}
    for name, (_, _node, f) in read.items():
        loop = sub_workflow_cycle(specs, name)
        if loop:
            raise ConfigError(f"{f}:1: sub-workflows form a cycle: {' -> '.join(loop)}")
    return specs, {name: str(f) for name, (_, _, f) in read.items()}


def sub_workflow_cycle(specs: Mapping[str, WorkflowSpec], start: str) -> list[str]:
    """A chain of sub-workflows from ``start`` back to itself, if any."""
    path = [start]

    def walk(name: str) -> list[str]:
        for s in specs[name].steps:
            sub = s.workflow
            if sub is None or sub not in specs:
                continue
            if sub == start:
                return [*path, sub]
            if sub in path:
                continue
            path.append(sub)
            found = walk(sub)
            if found:
                return found
            path.pop()
        return []

    return walk(start)
