"""Guardrails in the agent loop. Each check is a syscall (``guard``), so its
verdict is journaled, audited and replayed like any effect; a judge is a
model call (``llm``: budgets and policy apply); an escalation is a ``review``
syscall that governance parks until a person accepts, corrects or rejects
the answer (the approvals inbox)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic_core

from orgos.config.guardrails import Check, Guardrails
from orgos.config.specs import AgentSpec, json_schema_validator
from orgos.kernel.context import RunContext
from orgos.kernel.syscall import Syscall
from orgos.policy.guardrails import (
    VERDICT_SCHEMA,
    GuardrailError,
    as_text,
    is_deterministic,
    judge_request,
    read_verdict,
    run_checks,
)
from orgos.result import Result
from orgos.store.base import Audit
from orgos.tools.validators import Validator

_VERDICT = json_schema_validator(VERDICT_SCHEMA)


async def _guard(
    ctx: RunContext,
    spec: AgentSpec,
    stage: str,
    checks: list[Check],
    value: Any,
    task: str,
    validators: Mapping[str, Validator],
) -> list[str]:
    async def execute(sc: Syscall) -> Result:
        problems = await run_checks(checks, value, task, validators)
        if problems:
            data = {"stage": stage, "problems": problems}
            actor = "agent:" + spec.name
            sc.ops.append(
                Audit(ctx.run.workspace, actor, "guardrail.failed", ctx.run.id, sc.seq, data)
            )
        return Result.of({"passed": not problems, "problems": problems})

    result = await ctx.syscall("guard", {"stage": stage, "checks": len(checks)}, execute)
    if not result.ok:  # a policy rule denied the check itself
        return [str(result.error)]
    return list(result.value["problems"])


async def check_input(
    ctx: RunContext, spec: AgentSpec, task: str, validators: Mapping[str, Validator]
) -> None:
    """Refuse the run (it fails, saying why) if its task fails an input check."""
    g = spec.guardrails
    if g is None or not g.input:
        return
    problems = await _guard(ctx, spec, "input", g.input, task, task, validators)
    if problems:
        raise GuardrailError(f"input refused by {spec.name}'s guardrails: {'; '.join(problems)}")


def needs_review(g: Guardrails | None) -> bool:
    return g is not None and bool(g.output or g.criteria)


async def review_answer(
    ctx: RunContext, spec: AgentSpec, answer: Any, task: str, validators: Mapping[str, Validator]
) -> list[str]:
    """Why the final answer fails its output checks and criteria (empty: it
    passes). Judges are asked only once the deterministic checks pass."""
    g = spec.guardrails
    assert g is not None
    checks: list[Check] = [*g.output, *(c for c in g.criteria if is_deterministic(c))]
    if checks:
        problems = await _guard(ctx, spec, "output", checks, answer, task, validators)
        if problems:
            return problems
    problems = []
    text = as_text(answer)
    for c in g.criteria:
        if c.judge is None:
            continue
        resp = await ctx.llm(judge_request(c, task, text), c.model or spec.model)
        value, problem = parse_verdict(resp.content)
        why = read_verdict(c, value, problem)
        if why is not None:
            problems.append(why)
    return problems


def parse_verdict(text: str) -> tuple[Any, str | None]:
    """A judge's verdict from its reply, or why the reply is not one."""
    from orgos.agents.loop import _strip_fence

    try:
        value = pydantic_core.from_json(_strip_fence(text.strip()))
    except ValueError as exc:
        return None, f"it is not JSON: {exc}"
    errors = list(_VERDICT.iter_errors(value))
    if errors:
        return None, errors[0].message
    return value, None


async def escalate(ctx: RunContext, spec: AgentSpec, answer: Any, problems: list[str]) -> Any:
    """Park until a person decides about an answer that failed its checks:
    approved, it is the run's output (or the corrected one they gave);
    denied, the run fails with their note."""
    g = spec.guardrails
    req = {
        "answer": answer,
        "reason": "the answer failed its checks: " + "; ".join(problems),
        "approver": g.approver if g is not None else None,
    }

    async def execute(sc: Syscall) -> Result:
        if "decided_by" not in sc.request:  # nobody parked it: no governance
            return Result.fail("escalation needs approvals (a runtime with governance)")
        return Result.of(sc.request["answer"])

    result = await ctx.syscall("review", req, execute)
    if not result.ok:
        raise GuardrailError(
            f"{spec.name}'s answer failed its checks ({'; '.join(problems)}) and was not"
            f" accepted: {result.error}"
        )
    return result.value
