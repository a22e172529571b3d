"""Evaluation gates: a step's output is checked before its dependents see it.

The deterministic part (the schema, the rules, the criteria's patterns and
validators) runs in one ``gate`` syscall, so its verdict is journaled,
audited and replayed; each judge criterion is then a model call through the
kernel (an ``llm`` syscall: budgets, policy and the journal apply), as the
agents' guardrail criteria are. Judges are asked only once the rest passed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orgos.agents.guardrails import (
    as_text,
    is_deterministic,
    judge_request,
    parse_verdict,
    read_verdict,
    run_checks,
)
from orgos.config.expr import ExprError, render
from orgos.config.specs import json_schema_validator
from orgos.config.workflow import GateSpec
from orgos.kernel.syscall import Syscall
from orgos.result import Result
from orgos.store.base import Audit
from orgos.workflows.state import Attempt, StepState

if TYPE_CHECKING:
    from orgos.workflows.engine import Engine


async def evaluate(
    engine: Engine, st: StepState, att: Attempt, result: dict[str, Any]
) -> list[str]:
    """Why the step's output fails its gate (empty: it passes)."""
    gate = st.spec.gate
    assert gate is not None
    env = engine.env(
        output=result.get("data"),
        summary=result.get("summary"),
        confidence=result.get("confidence"),
        agent=result.get("agent"),
    )
    if att.branch >= 0 and st.items is not None:
        env.update(item=st.items[att.branch], index=att.branch)
    task = str(render(st.spec.task, env, engine.exprs)) if st.spec.task else st.spec.id
    problems = await _checks(engine, st, att, gate, env, task)
    if problems:
        return problems
    text = as_text(result.get("data"))
    for c in gate.criteria:
        if c.judge is None:
            continue
        resp = await engine.ctx.llm(judge_request(c, task, text), c.model or "default")
        value, problem = parse_verdict(resp.content)
        why = read_verdict(c, value, problem)
        if why is not None:
            problems.append(why)
    return problems


async def _checks(
    engine: Engine, st: StepState, att: Attempt, gate: GateSpec, env: dict[str, Any], task: str
) -> list[str]:
    """The schema, the rules and the deterministic criteria, in one journaled syscall."""
    ctx = engine.ctx
    validators = engine.services.validators

    async def execute(sc: Syscall) -> Result:
        problems = _schema_problems(gate, env["output"])
        for rule in gate.rules:
            try:
                if not engine.exprs.get(rule)(env):
                    problems.append(f"rule {rule!r} does not hold")
            except ExprError as exc:
                problems.append(f"rule {rule!r} could not be evaluated: {exc}")
        checks = [c for c in gate.criteria if is_deterministic(c)]
        if checks:
            problems += await run_checks(checks, env["output"], task, validators)
        if problems:
            data = {"step": st.spec.id, "branch": att.branch, "problems": problems}
            actor = "workflow:" + engine.spec.name
            sc.ops.append(Audit(ctx.run.workspace, actor, "gate.failed", ctx.run.id, sc.seq, data))
        return Result.of({"passed": not problems, "problems": problems})

    req = {"step": st.spec.id, "branch": att.branch, "attempt": att.attempt}
    result = await ctx.syscall("gate", req, execute)
    if not result.ok:  # a policy rule denied the check itself
        return [str(result.error)]
    return list(result.value["problems"])


def _schema_problems(gate: GateSpec, value: Any) -> list[str]:
    if gate.output_schema is None:
        return []
    # built when a step ends, not on replay (the verdict is journaled)
    validator = json_schema_validator(gate.output_schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    if not errors:
        return []
    e = errors[0]
    where = "/".join(str(p) for p in e.path) or "the output"
    return [f"schema: {where}: {e.message}"]
