"""An agent's answer is held to what its tools did: ``bind`` ties answer
fields to tool results (an invented refund id is sent back, then fails the
run), and ``requires`` makes a run whose required effect was denied or failed
fail, whatever the model answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stores import store_for

from orgos import Agent, Runtime, tool
from orgos.errors import ConfigError
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.policy import PolicySpec
from orgos.testing import ScriptedModel
from orgos.tools.base import Tool

REFUND_OUT = {
    "type": "object",
    "properties": {"refund_id": {"type": "string"}, "amount": {"type": "number"}},
    "required": ["refund_id", "amount"],
}


def refund_tools(ledger: list[str], fail: str | None = None) -> list[Tool]:
    @tool(risk="high")
    def issue_refund(order_id: str, idempotency_key: str) -> dict[str, Any]:
        """Refund an order."""
        if fail is not None:
            raise ValueError(fail)
        ledger.append(order_id)
        return {"refund_id": f"RF-{len(ledger)}", "amount": 249.0}

    return [issue_refund]


def finance(**kw: Any) -> Agent:
    kw.setdefault("requires", ["issue_refund"])
    kw.setdefault("bind", {"refund_id": "issue_refund.refund_id", "amount": "issue_refund.amount"})
    return Agent(
        name="finance", tools=["issue_refund"], output=REFUND_OUT, max_steps=10,
        tool_limits={"issue_refund": 1}, **kw,
    )  # fmt: skip


def refunder(*answers: dict[str, Any]) -> ScriptedModel:
    """Calls issue_refund once, then gives these answers in turn (the last repeats)."""

    def respond(req: ModelRequest) -> ModelResponse:
        if not any(m.role == "tool" for m in req.messages):
            return ScriptedModel.call("issue_refund", order_id="ORD-1002")
        n = sum(1 for m in req.messages if m.role == "user" and "not valid" in m.content)
        return ScriptedModel.final(answers[min(n, len(answers) - 1)])

    return ScriptedModel(respond)


def told(model: ScriptedModel) -> list[str]:
    """What the model was told about its rejected answers (its last request)."""
    return [m.content for m in model.requests[-1].messages
            if m.role == "user" and "not valid" in m.content]  # fmt: skip


async def test_an_invented_refund_id_is_sent_back_and_the_returned_one_stands(
    tmp_path: Path,
) -> None:
    ledger: list[str] = []
    model = refunder(
        {"refund_id": "RF-1002", "amount": 249.0}, {"refund_id": "RF-1", "amount": 249}
    )
    async with Runtime(store=store_for(tmp_path), agents=[finance()], tools=refund_tools(ledger),
                       models=model) as rt:  # fmt: skip
        rec = await rt.run("finance", "refund ORD-1002", timeout=10)
    assert rec.status.value == "succeeded", rec.error
    assert rec.output == {"refund_id": "RF-1", "amount": 249}
    (why,) = told(model)
    assert 'refund_id is "RF-1002", but issue_refund returned refund_id "RF-1"' in why
    assert ledger == ["ORD-1002"]


async def test_an_answer_that_keeps_inventing_a_refund_id_fails_the_run(tmp_path: Path) -> None:
    model = refunder({"refund_id": "RF-1002", "amount": 249.0})
    async with Runtime(store=store_for(tmp_path), agents=[finance()], tools=refund_tools([]),
                       models=model) as rt:  # fmt: skip
        rec = await rt.run("finance", "refund ORD-1002", timeout=10)
    assert rec.status.value == "failed"
    assert str(rec.error).startswith("InventedValue: finance's answer was sent back 2 times:")
    assert 'refund_id is "RF-1002"' in str(rec.error)


async def test_a_denied_required_refund_fails_the_run_whatever_the_model_answers(
    tmp_path: Path,
) -> None:
    ledger: list[str] = []
    deny = {"name": "no-refunds", "when": {"tool": "issue_refund"}, "decide": "deny",
            "reason": "refunds are frozen"}  # fmt: skip
    policy = PolicySpec.model_validate({"rules": [deny]})
    model = refunder({"refund_id": "RF-1002", "amount": 249.0})  # a small model's invention
    async with Runtime(store=store_for(tmp_path), agents=[finance()], tools=refund_tools(ledger),
                       models=model, governance=policy) as rt:  # fmt: skip
        rec = await rt.run("finance", "refund ORD-1002", timeout=10)
    assert rec.status.value == "failed"
    assert str(rec.error).startswith("RequiredEffectFailed: finance's required issue_refund did"
                                     " not succeed: ")  # fmt: skip
    assert "refunds are frozen" in str(rec.error)
    assert ledger == []


async def test_a_failed_required_tool_fails_the_run_with_its_error(tmp_path: Path) -> None:
    model = refunder({"refund_id": "RF-1002", "amount": 249.0})
    tools = refund_tools([], fail="order ORD-1002 is already refunded: RF-1001")
    async with Runtime(store=store_for(tmp_path), agents=[finance(bind={})], tools=tools,
                       models=model) as rt:  # fmt: skip
        rec = await rt.run("finance", "refund ORD-1002", timeout=10)
    assert rec.status.value == "failed"
    assert "already refunded: RF-1001" in str(rec.error)


async def test_an_answer_before_the_required_tool_was_called_is_sent_back(
    tmp_path: Path,
) -> None:
    def respond(req: ModelRequest) -> ModelResponse:
        pushed = any(m.role == "user" and "not valid" in m.content for m in req.messages)
        if pushed and not any(m.role == "tool" for m in req.messages):
            return ScriptedModel.call("issue_refund", order_id="ORD-1002")
        if pushed:
            return ScriptedModel.final({"refund_id": "RF-1", "amount": 249.0})
        return ScriptedModel.final({"refund_id": "RF-9", "amount": 1.0})  # answers at once

    model = ScriptedModel(respond)
    async with Runtime(store=store_for(tmp_path), agents=[finance()], tools=refund_tools([]),
                       models=model) as rt:  # fmt: skip
        rec = await rt.run("finance", "refund ORD-1002", timeout=10)
    assert rec.status.value == "succeeded", rec.error
    assert rec.output == {"refund_id": "RF-1", "amount": 249.0}
    first_push = [m.content for m in model.requests[1].messages if m.role == "user"][-1]
    assert "you have not called issue_refund" in first_push


def write_project(root: Path, agent_yaml: str) -> Path:
    (root / "agents").mkdir(parents=True)
    (root / "orgos.yaml").write_text("name: p\n")
    (root / "tools.py").write_text(
        "from orgos import tool\n\n@tool\ndef issue_refund(order_id: str) -> dict:\n"
        '    """Refund."""\n    return {"refund_id": "RF-1"}\n'
    )
    (root / "agents" / "finance.yaml").write_text(agent_yaml)
    return root


AGENT_YAML = """\
name: finance
tools: [issue_refund]
output:
  type: object
  properties:
    refund_id: {type: string}
"""


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        (
            "requires: [send_money]\n",
            7,
            "requires 'send_money', which is not among the agent's tools",
        ),
        (
            "bind:\n  refund_id: send_money.refund_id\n",
            7,
            "bind refund_id: 'send_money' is not among",
        ),
        ("bind:\n  refund_id: issue_refund\n", 7, "is not FIELD: TOOL.FIELD"),
        ("bind:\n  amount: issue_refund.amount\n", 7, "the output schema has no property 'amount'"),
    ],
)
def test_bindings_and_requirements_are_checked_at_load_with_file_and_line(
    tmp_path: Path, extra: str, line: int, message: str
) -> None:
    from orgos.config.project import load_project

    root = write_project(tmp_path / "p", AGENT_YAML + extra)
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert f"finance.yaml:{line}:" in str(err.value)
    assert message in str(err.value)


def test_bind_needs_an_output_schema() -> None:
    with pytest.raises(ValueError, match="bind needs an output schema"):
        Agent(name="x", tools=["t"], bind={"a": "t.a"})


def test_a_spec_binding_round_trips_through_json() -> None:
    a = finance()
    assert Agent.model_validate(json.loads(a.model_dump_json())) == a
