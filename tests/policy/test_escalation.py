"""Escalation follows the org chart as documented: each move of an overdue
approval is announced on the bus (``approvals.escalated``), and a supervisor
agent it reaches decides it within its rights, or passes it on up."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gov_helpers import Ledger, next_approval, runtime

from orgos import Agent
from orgos.config.org import OrgSpec, TeamSpec
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing import ScriptedModel

ORG = OrgSpec(teams=[TeamSpec(name="support", owner="dana@example.com")])
AGENTS = [Agent(name="clerk", tools=["refund"], team="support", reports_to="boss"),
          Agent(name="boss", team="support")]  # fmt: skip
#: Only the clerk's big refunds need a person: the boss may make them itself.
CLERK_RULE = {"name": "clerk-refunds", "decide": "approve", "approver": "olga",
              "when": {"agent": "clerk", "tool": "refund", "args": {"amount": {"gt": 500}}}}  # fmt: skip
#: Everyone's big refunds need a person: beyond the boss's rights.
ANY_RULE = {"name": "big-refunds", "decide": "approve", "approver": "olga",
            "when": {"tool": "refund", "args": {"amount": {"gt": 500}}}}  # fmt: skip


def org_model(boss_answer: dict[str, Any], asked: list[ModelRequest]) -> ScriptedModel:
    """The clerk refunds 900 then answers with the tool's result; the boss,
    asked to decide, answers ``boss_answer``."""

    def respond(req: ModelRequest) -> ModelResponse:
        if req.messages[0].content.startswith("You are boss"):
            asked.append(req)
            return ScriptedModel.final(boss_answer)
        results = [m.content for m in req.messages if m.role == "tool"]
        if not results:
            return ScriptedModel.call("refund", order_id="A-1", amount=900.0)
        return ScriptedModel.final(results[0])

    return ScriptedModel(respond)


def policy(rule: dict[str, Any]) -> dict[str, Any]:
    return {"rules": [rule], "approvals": {"timeout": 60, "check_every": 3600}}


async def test_an_escalation_notifies_the_next_one_up(tmp_path: Path) -> None:
    ledger, asked = Ledger(), []
    model = org_model({"approve": False, "note": "no"}, asked)
    async with runtime(tmp_path, policy(CLERK_RULE), model, ledger.tools(), agents=AGENTS,
                       org=ORG) as rt:  # fmt: skip
        gov = rt.governance
        assert gov is not None
        await rt.bus.subscribe("inbox", "approvals.escalated")
        await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        assert await rt.bus.pending("inbox", "approvals.escalated") == []
        moved = await gov.approvals.escalate_due(now=time.time() + 61)
        events = await rt.bus.pending("inbox", "approvals.escalated")
    assert [m.assignee for m in moved] == ["boss"]
    assert [e.data["assignee"] for e in events] == ["boss"]
    told = events[0].data
    assert (told["approval"], told["from"], told["agent"], told["tool"]) == (
        a.id, "olga", "clerk", "refund")  # fmt: skip


async def test_a_supervisor_agent_decides_an_escalated_approval_within_its_rights(
    tmp_path: Path,
) -> None:
    ledger, asked = Ledger(), []
    model = org_model({"approve": True, "note": "the order was returned"}, asked)
    async with runtime(tmp_path, policy(CLERK_RULE), model, ledger.tools(), agents=AGENTS,
                       org=ORG) as rt:  # fmt: skip
        gov = rt.governance
        assert gov is not None
        rec = await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        await gov.approvals.escalate_due(now=time.time() + 61)
        (decider,) = await gov.approvals.hand_over()
        assert await gov.approvals.hand_over() == []  # asked once
        decided = await rt.wait(decider, timeout=10)
        done = await rt.wait(rec.id, timeout=10)
        after = await gov.store.approvals.get(a.workspace, a.run_id, a.step)
        journal = await rt.history.journal(decider)
    assert decided.status.value == "succeeded", decided.error
    assert after is not None and (after.status, after.decided_by) == ("approved", "agent:boss")
    assert after.note == "the order was returned"
    assert done.status.value == "succeeded"
    assert ledger.refunds == [{"order_id": "A-1", "amount": 900.0}]
    assert len(asked) == 1 and '"amount":900.0' in asked[0].messages[1].content.replace(" ", "")
    # the boss's model call is a syscall of its own run: journaled, governed
    assert [e.kind for e in journal if e.phase == "result"] == [
        "approval.review", "llm", "approval.decide"]  # fmt: skip


async def test_a_call_beyond_a_supervisors_rights_goes_on_up_to_a_person(
    tmp_path: Path,
) -> None:
    ledger, asked = Ledger(), []
    model = org_model({"approve": True, "note": "fine"}, asked)
    async with runtime(tmp_path, policy(ANY_RULE), model, ledger.tools(), agents=AGENTS,
                       org=ORG) as rt:  # fmt: skip
        gov = rt.governance
        assert gov is not None
        await rt.bus.subscribe("inbox", "approvals.escalated")
        rec = await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        await gov.approvals.escalate_due(now=time.time() + 61)
        (decider,) = await gov.approvals.hand_over()
        passed = await rt.wait(decider, timeout=10)
        now = await gov.store.approvals.get(a.workspace, a.run_id, a.step)
        events = await rt.bus.pending("inbox", "approvals.escalated")
        assert now is not None and (now.status, now.assignee) == ("pending", "dana@example.com")
        assert ledger.refunds == []
        await rt.control.approve(a.id, by="dana@example.com")
        done = await rt.wait(rec.id, timeout=10)
    assert asked == []  # the boss's model was never asked to approve what it may not do
    assert passed.output["passed_to"] == "dana@example.com"
    assert "boss may not make this call itself" in passed.output["why"]
    assert [(e.data["from"], e.data["assignee"]) for e in events] == [
        ("olga", "boss"), ("boss", "dana@example.com")]  # fmt: skip
    assert done.status.value == "succeeded"
    assert ledger.refunds == [{"order_id": "A-1", "amount": 900.0}]
