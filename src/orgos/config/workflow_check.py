"""Load-time checks of a workflow graph: everything that can be known before a
run starts is refused here, with the place (a path into the spec, turned into
file:line by the loader) and the problem."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from orgos.config.expr import Expr, ExprError, parse, template_exprs
from orgos.config.specs import AgentSpec
from orgos.config.workflow import StepSpec, WorkflowSpec

Loc = tuple[str | int, ...]

#: The names an expression may start with.
ROOTS = {"steps", "input", "item", "index", "loop", "previous", "step"}
#: And in a gate's rules: what the step answered.
GATE_ROOTS = ROOTS | {"output", "summary", "confidence", "agent"}


@dataclass(frozen=True, slots=True)
class Problem:
    loc: Loc
    message: str


def check_workflow(
    spec: WorkflowSpec,
    agents: Mapping[str, AgentSpec] | None = None,
    workflows: Collection[str] | None = None,
    validators: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem of ``spec``; ``agents``/``workflows``/``validators`` (when
    given) are the names a step may refer to."""
    out: list[Problem] = []
    index: dict[str, int] = {}
    for i, s in enumerate(spec.steps):
        if s.id in index:
            out.append(Problem(("steps", i, "id"), f"step id {s.id!r} is used twice"))
        index.setdefault(s.id, i)
    for i, s in enumerate(spec.steps):
        for j, n in enumerate(s.needs):
            if n == s.id:
                out.append(Problem(("steps", i, "needs", j), f"step {s.id!r} needs itself"))
            elif n not in index:
                known = ", ".join(index)
                out.append(
                    Problem(("steps", i, "needs", j),
                            f"step {s.id!r} needs unknown step {n!r}; steps: {known}")
                )  # fmt: skip
    cycle = _cycle(spec, index)
    if cycle:
        first = index[cycle[0]]
        out.append(Problem(("steps", first, "needs"), f"steps form a cycle: {' -> '.join(cycle)}"))
        return out
    if agents is not None:
        out.extend(_check_doers(spec, agents, workflows))
    out.extend(_check_exprs(spec, index))
    if validators is not None:
        out.extend(_check_validators(spec, validators))
    return out


def _check_validators(spec: WorkflowSpec, validators: Collection[str]) -> list[Problem]:
    out: list[Problem] = []
    known = ", ".join(sorted(validators)) or "none"
    for i, s in enumerate(spec.steps):
        for j, c in enumerate(s.gate.criteria if s.gate is not None else []):
            if c.validator is not None and c.validator not in validators:
                out.append(
                    Problem(("steps", i, "gate", "criteria", j, "validator"),
                            f"step {s.id!r}: gate criterion {c.name!r} uses unknown validator"
                            f" {c.validator!r}; known validators: {known}")
                )  # fmt: skip
    return out


def _cycle(spec: WorkflowSpec, index: Mapping[str, int]) -> list[str]:
    """A cycle through ``needs``, as step ids (empty when there is none)."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(sid: str) -> list[str]:
        state[sid] = 1
        path.append(sid)
        for n in spec.steps[index[sid]].needs:
            if n not in index or n == sid:
                continue
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[sid] = 2
        return []

    for s in spec.steps:
        if s.id not in state:
            found = visit(s.id)
            if found:
                return found
    return []


def _check_doers(
    spec: WorkflowSpec, agents: Mapping[str, AgentSpec], workflows: Collection[str] | None
) -> list[Problem]:
    out: list[Problem] = []
    known = ", ".join(sorted(agents)) or "none"

    def agent(loc: Loc, name: str | None, what: str) -> None:
        if name is not None and name not in agents:
            out.append(Problem(loc, f"{what} names unknown agent {name!r}; agents: {known}"))

    for i, s in enumerate(spec.steps):
        where = f"step {s.id!r}"
        agent(("steps", i, "agent"), s.agent, where)
        agent(("steps", i, "planner"), s.planner, f"{where}: planner")
        if s.compensate is not None:
            agent(("steps", i, "compensate", "agent"), s.compensate.agent, f"{where}: compensate")
        if s.route is not None:
            agent(("steps", i, "route", "supervisor"), s.route.supervisor, f"{where}: route")
            caps = set(s.route.capabilities)
            if not any(caps <= set(a.capabilities) for a in agents.values()):
                out.append(
                    Problem(("steps", i, "route", "capabilities"),
                            f"{where}: no agent has every capability of {sorted(caps)}")
                )  # fmt: skip
            if s.route.strategy == "supervisor" and s.route.supervisor is None:
                out.append(
                    Problem(("steps", i, "route"),
                            f"{where}: strategy supervisor needs a supervisor agent")
                )  # fmt: skip
        if s.workflow is not None:
            if s.workflow == spec.name:
                out.append(Problem(("steps", i, "workflow"), f"{where} runs its own workflow"))
            elif workflows is not None and s.workflow not in workflows:
                names = ", ".join(sorted(workflows)) or "none"
                out.append(
                    Problem(("steps", i, "workflow"),
                            f"{where} names unknown workflow {s.workflow!r}; workflows: {names}")
                )  # fmt: skip
        if s.on_failure == "compensate" and not any(x.compensate for x in spec.steps):
            out.append(
                Problem(("steps", i, "on_failure"),
                        f"{where}: on_failure compensate, but no step has a compensate action")
            )  # fmt: skip
    return out


def _ancestors(spec: WorkflowSpec, index: Mapping[str, int], sid: str) -> set[str]:
    seen: set[str] = set()
    todo = list(spec.steps[index[sid]].needs)
    while todo:
        n = todo.pop()
        if n in seen or n not in index:
            continue
        seen.add(n)
        todo.extend(spec.steps[index[n]].needs)
    return seen


def _exprs(s: StepSpec) -> list[tuple[Loc, str, bool]]:
    """(loc, source, is_template) of every expression a step holds."""
    out: list[tuple[Loc, str, bool]] = []
    if s.when:
        out.append((("when",), s.when, False))
    if s.for_each:
        out.append((("for_each",), s.for_each, False))
    if s.loop:
        out.append((("loop", "until"), s.loop.until, False))
    out.append((("task",), s.task, True))
    if s.compensate:
        out.append((("compensate", "task"), s.compensate.task, True))
    out.extend(_data_templates(s.input, ("input",)))
    if s.gate is not None:
        out.extend((("gate", "rules", j), rule, False) for j, rule in enumerate(s.gate.rules))
    return out


def _data_templates(value: object, loc: Loc) -> list[tuple[Loc, str, bool]]:
    if isinstance(value, str):
        return [(loc, value, True)] if "{{" in value else []
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _data_templates(v, (*loc, k))]
    if isinstance(value, list):
        return [x for j, v in enumerate(value) for x in _data_templates(v, (*loc, j))]
    return []


def _check_exprs(spec: WorkflowSpec, index: Mapping[str, int]) -> list[Problem]:
    out: list[Problem] = []
    for i, s in enumerate(spec.steps):
        before = _ancestors(spec, index, s.id)
        for loc, source, is_template in _exprs(s):
            full: Loc = ("steps", i, *loc)
            try:
                exprs: Sequence[Expr] = template_exprs(source) if is_template else [parse(source)]
            except ExprError as exc:
                out.append(Problem(full, f"step {s.id!r}: {exc}"))
                continue
            own = loc == ("loop", "until") or loc[0] == "compensate"
            roots = GATE_ROOTS if loc[0] == "gate" else ROOTS
            for e in exprs:
                out.extend(_check_paths(spec, s, e, full, before, own=own, roots=roots,
                                        is_for_each=loc == ("for_each",)))  # fmt: skip
                if loc[0] != "compensate" and any(p[0] == "step" for p in e.paths()):
                    out.append(Problem(full, f"step {s.id!r}: 'step' (the step being undone)"
                                             " is only known in compensate.task"))  # fmt: skip
    if spec.output is not None:
        items = {"": spec.output} if isinstance(spec.output, str) else spec.output
        everything = set(index)
        for key, source in items.items():
            at: Loc = ("output", key) if key else ("output",)
            try:
                e = parse(source)
            except ExprError as exc:
                out.append(Problem(at, f"output: {exc}"))
                continue
            for p in e.paths():
                if p[0] == "steps" and len(p) > 1 and p[1] not in everything:
                    out.append(Problem(at, f"output reads unknown step {p[1]!r}"))
    return out


def _check_paths(
    spec: WorkflowSpec,
    s: StepSpec,
    e: Expr,
    loc: Loc,
    before: set[str],
    *,
    own: bool,
    is_for_each: bool,
    roots: set[str] = ROOTS,
) -> list[Problem]:
    out: list[Problem] = []
    for p in e.paths():
        root = p[0]
        if root not in roots:
            out.append(
                Problem(loc, f"step {s.id!r}: {e.source!r} reads {root!r}; an expression"
                             f" starts with one of {', '.join(sorted(roots))}")
            )  # fmt: skip
        elif root == "steps" and len(p) > 1:
            dep = p[1]
            if dep == s.id and own:
                continue
            if dep not in before:
                why = "does not exist" if dep not in {x.id for x in spec.steps} else (
                    f"is not among its needs; add it: needs: [{', '.join([*s.needs, dep])}]"
                )  # fmt: skip
                out.append(
                    Problem(loc, f"step {s.id!r} reads the output of step {dep!r}, which {why}")
                )
        elif root == "input" and len(p) > 1 and spec.inputs and p[1] not in spec.inputs:
            out.append(
                Problem(loc, f"step {s.id!r} reads input.{p[1]}, which is not among the"
                             f" workflow's inputs: {', '.join(spec.inputs)}")
            )  # fmt: skip
        elif root in ("item", "index") and (s.for_each is None or is_for_each):
            out.append(Problem(loc, f"step {s.id!r} reads {root!r} but has no for_each"))
        elif root in ("loop", "previous") and s.loop is None:
            out.append(Problem(loc, f"step {s.id!r} reads {root!r} but has no loop"))
    return out
