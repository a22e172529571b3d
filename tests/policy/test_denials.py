"""A denial goes back to whoever made the call, as a result it can act on:
the model reads why and goes on; the workflow engine fails the step like any
attempt. Nothing crashes on a denial (Trust, fault 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gov_helpers import runtime

from orgos import Agent, RunStatus
from orgos.config.workflow import WorkflowSpec
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.result import Denied, Result, SyscallError
from orgos.testing import ScriptedModel

DENY_DELEGATION = {
    "rules": [{"name": "no-delegation", "when": {"kind": "delegate"}, "decide": "deny",
               "reason": "delegation is switched off this week"}],
}  # fmt: skip


def step_model() -> ScriptedModel:
    """Every agent answers a workflow step's report."""
    return ScriptedModel(
        lambda req: ScriptedModel.final({"data": {"n": 1}, "summary": "one", "confidence": 0.8})
    )


def boss_model(seen: list[str]) -> ScriptedModel:
    def respond(req: ModelRequest) -> ModelResponse:
        results = [m.content for m in req.messages if m.role == "tool"]
        if not results:
            return ScriptedModel.call("delegate", agent="worker", task="count the apples")
        seen.extend(results)
        return ScriptedModel.final("I counted them myself: 3")

    return ScriptedModel(respond)


async def test_a_denied_delegation_comes_back_to_the_model_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    agents = [Agent(name="boss", delegates=["worker"]), Agent(name="worker")]
    async with runtime(tmp_path, DENY_DELEGATION, boss_model(seen), [], agents=agents) as rt:
        rec = await rt.run("boss", "how many apples?", timeout=20)
        tree = await rt.history.tree(rec.id)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output == "I counted them myself: 3"
    assert seen == ["ERROR: delegation is switched off this week"]
    assert [r.id for r in tree] == [rec.id]  # no child was started


async def test_default_deny_fails_a_workflow_step_with_the_reason_not_a_crash(
    tmp_path: Path,
) -> None:
    model = step_model()
    spec = WorkflowSpec.model_validate(
        {"name": "t", "steps": [{"id": "first", "agent": "a", "task": "go"}]}
    )
    agents = [Agent(name="a")]
    async with runtime(tmp_path, {"default": "deny"}, model, [], agents=agents) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
    assert rec.status is RunStatus.FAILED
    assert rec.error is not None
    assert "KeyError" not in rec.error
    assert "no rule matched; the default decides" in rec.error


async def test_default_deny_with_the_effects_allowed_runs_the_workflow(tmp_path: Path) -> None:
    model = step_model()
    spec = WorkflowSpec.model_validate(
        {"name": "t", "steps": [{"id": "first", "agent": "a", "task": "go"}]}
    )
    policy = {
        "default": "deny",
        "rules": [{"name": "effects", "when": {"kind": ["llm", "delegate"]}, "decide": "allow"}],
    }
    async with runtime(tmp_path, policy, model, [], agents=[Agent(name="a")]) as rt:
        rec = await rt.run_workflow(spec, timeout=20)
    assert rec.status is RunStatus.SUCCEEDED, rec.error


@pytest.mark.parametrize(
    ("result", "payload"),
    [
        (Result.of({"refund_id": "RF-1"}), {"ok": {"refund_id": "RF-1"}}),
        (Result.of(None), {"ok": None}),
        (Result.fail("boom", code="quota"), {"error": "boom", "code": "quota"}),
        (Result.deny("over budget"), {"error": "over budget", "denied": True}),
        (Result.of("page", tainted=True), {"ok": "page", "tainted": True}),
    ],
)
def test_a_result_reads_back_from_the_journal_as_it_was_written(
    result: Result, payload: dict[str, Any]
) -> None:
    assert result.to_payload() == payload
    assert Result.from_payload(payload) == result


def test_results_journaled_by_earlier_versions_still_read() -> None:
    assert Result.from_payload({"ok": True, "value": 3}) == Result.of(3)
    assert Result.from_payload({"ok": False, "error": "x"}) == Result.fail("x")


def test_unwrap_raises_a_denial_apart_from_a_failure() -> None:
    assert Result.of(2).unwrap() == 2
    with pytest.raises(Denied, match="over budget"):
        Result.deny("over budget").unwrap()
    with pytest.raises(SyscallError, match="boom") as err:
        Result.fail("boom", code="quota").unwrap()
    assert err.value.code == "quota" and not isinstance(err.value, Denied)
