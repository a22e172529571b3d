"""Approvals: a call that needs a person parks its run durably; approve,
deny, or approve with edited arguments; escalation along the org chart on
timeout; and a parked run survives kill -9 and a restart."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gov_helpers import VAULT_KEY, Ledger, next_approval, plan, runtime
from lines import LineReader

from orgos import Agent
from orgos.config.org import OrgSpec, TeamSpec
from orgos.store import audit as audit_sql
from orgos.store.waiting import WaitApproval

POLICY = {"rules": [{"name": "big-refund", "when": {"tool": "refund", "args": {"amount": {"gt": 500}}},
                     "decide": "approve", "reason": "refunds above 500 need a person"}]}  # fmt: skip


def refund_model(amount: float = 900.0):  # type: ignore[no-untyped-def]
    return plan(("refund", {"order_id": "A-1", "amount": amount}), final=lambda r: r[0])


@pytest.mark.sqlite_file
async def test_approve(tmp_path: Path) -> None:
    ledger = Ledger()
    async with runtime(tmp_path, POLICY, refund_model(), ledger.tools()) as rt:
        rec = await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        parked = await rt.wait(rec.id, timeout=10)
        assert parked.status.value == "waiting"
        assert isinstance(parked.waiting_on, WaitApproval)
        assert parked.waiting_on.id == a.id
        assert ledger.refunds == []  # nothing happened yet
        await rt.control.approve(a.id, by="olga", note="checked the order")
        done = await rt.wait(rec.id, timeout=10)
        journal = await rt.history.journal(rec.id)
    assert done.status.value == "succeeded"
    assert ledger.refunds == [{"order_id": "A-1", "amount": 900.0}]
    # the run's own journal says who decided what, at the step that waited
    decisions = [e for e in journal if e.phase == "decision"]
    assert [(d.kind, d.payload["decision"], d.payload["by"]) for d in decisions] == [
        ("approval", "approved", "olga")
    ]
    tool_step = next(e.seq for e in journal if e.phase == "intent" and e.kind == "tool")
    assert decisions[0].seq == tool_step
    conn = sqlite3.connect(tmp_path / "o.db")
    row = conn.execute("SELECT actor, data FROM audit WHERE action='approval.approved'").fetchone()
    assert row[0] == "olga" and "checked the order" in row[1]
    assert audit_sql.verify(conn).ok


async def test_deny_tells_the_model_why(tmp_path: Path) -> None:
    ledger = Ledger()
    model = refund_model()
    async with runtime(tmp_path, POLICY, model, ledger.tools()) as rt:
        rec = await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        await rt.control.deny(a.id, by="olga", note="the item was never returned")
        done = await rt.wait(rec.id, timeout=10)
    assert done.status.value == "succeeded"
    assert ledger.refunds == []
    assert done.output == "ERROR: olga denied this call: the item was never returned"


async def test_approve_with_edited_arguments(tmp_path: Path) -> None:
    ledger = Ledger()
    async with runtime(tmp_path, POLICY, refund_model(), ledger.tools()) as rt:
        rec = await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        await rt.control.approve(a.id, by="olga", arguments={"order_id": "A-1", "amount": 450.0})
        await rt.wait(rec.id, timeout=10)
        journal = await rt.history.journal(rec.id)
    assert ledger.refunds == [{"order_id": "A-1", "amount": 450.0}]
    intent = next(e for e in journal if e.phase == "intent" and e.kind == "tool")
    assert intent.payload["arguments"]["amount"] == 450.0  # the journal says what really ran


async def test_a_small_refund_needs_no_one(tmp_path: Path) -> None:
    ledger = Ledger()
    async with runtime(tmp_path, POLICY, refund_model(20.0), ledger.tools()) as rt:
        run = await rt.run("clerk", "refund A-1", timeout=10)
    assert run.status.value == "succeeded" and ledger.refunds


ORG = OrgSpec(teams=[TeamSpec(name="support", owner="dana@example.com", lead="lead")])


@pytest.mark.sqlite_file
async def test_timeout_escalates_up_the_org_chart(tmp_path: Path) -> None:
    ledger = Ledger()
    tools = ledger.tools()
    agents = [Agent(name="clerk", tools=["refund"], team="support", reports_to="boss"),
              Agent(name="boss", team="support"), Agent(name="lead", team="support")]  # fmt: skip
    policy = {**POLICY, "approvals": {"timeout": 60, "approver": "olga"}}
    async with runtime(tmp_path, policy, refund_model(), tools, agents=agents, org=ORG) as rt:
        gov = rt.governance
        assert gov is not None
        rec = await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        assert a.assignee == "olga"
        assert await gov.approvals.escalate_due(now=time.time() + 30) == []  # not yet due
        chain = []
        for k in range(1, 5):
            moved = await gov.approvals.escalate_due(now=time.time() + 61 * k)
            chain.extend(m.assignee for m in moved)
        # the supervisor, its supervisor (the team lead), then the team's owner; then it stays
        assert chain == ["boss", "lead", "dana@example.com"]
        await rt.control.approve(a.id, by="dana@example.com")
        assert (await rt.wait(rec.id, timeout=10)).status.value == "succeeded"
    conn = sqlite3.connect(tmp_path / "o.db")
    esc = [json.loads(d)["assignee"] for (d,) in
           conn.execute("SELECT data FROM audit WHERE action='approval.escalated' ORDER BY seq")]  # fmt: skip
    assert esc == ["boss", "lead", "dana@example.com"]


async def test_the_worker_escalates_by_itself(tmp_path: Path) -> None:
    import asyncio

    ledger = Ledger()
    agents = [Agent(name="clerk", tools=["refund"], team="support")]
    policy = {**POLICY, "approvals": {"timeout": 0.05, "check_every": 0.02}}
    org = OrgSpec(teams=[TeamSpec(name="support", owner="dana@example.com")])
    async with runtime(
        tmp_path, policy, refund_model(), ledger.tools(), agents=agents, org=org
    ) as rt:
        await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        assert rt.governance is not None
        async with asyncio.timeout(10):
            while True:  # the escalation loop moves it on its own
                now = await rt.governance.store.approvals.get(a.workspace, a.run_id, a.step)
                if now is not None and now.assignee == "dana@example.com":
                    break
                await asyncio.sleep(0.02)


# --- kill -9 -------------------------------------------------------------------------------
WORKER = Path(__file__).with_name("approval_worker.py")


class Worker(LineReader):
    def __init__(self, tmp: Path, submit: bool):
        args = [sys.executable, str(WORKER), str(tmp / "o.db"), str(tmp / "effects.log")]
        env = {**os.environ, "ORGOS_VAULT_KEY": VAULT_KEY.decode()}
        self.proc = subprocess.Popen(args + (["--submit"] if submit else []), stdout=subprocess.PIPE,
                                     text=True, env=env)  # fmt: skip
        self._start_reading()

    def expect(self, prefix: str, timeout: float = 60) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            assert line is not None, f"worker exited before {prefix}"
            if line.startswith(prefix):
                return line


def test_a_parked_run_survives_kill_9_and_continues_once_approved(tmp_path: Path) -> None:
    import asyncio

    from orgos.policy import approvals
    from orgos.store.sqlite import SQLiteStore

    first = Worker(tmp_path, submit=True)
    _, approval_id, run_id = first.expect("PARKED").split()
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=30)

    second = Worker(tmp_path, submit=False)  # a restart: the run is still parked
    second.expect("READY")
    assert not (tmp_path / "effects.log").exists()

    async def approve() -> None:  # a person, from another process
        store = SQLiteStore(tmp_path / "o.db")
        await store.open()
        try:
            await approvals.decide(store, "default", approval_id, approve=True, by="olga")
        finally:
            await store.close()

    asyncio.run(approve())
    done = second.expect("DONE")
    second.proc.terminate()
    second.proc.wait(timeout=30)
    assert done == "DONE succeeded refunded 900.0"
    effects = (tmp_path / "effects.log").read_text().splitlines()
    assert effects == [f"refund A-1 900.0 {run_id}:2"]
    conn = sqlite3.connect(tmp_path / "o.db")
    assert audit_sql.verify(conn).ok
    actions = [a for (a,) in conn.execute("SELECT action FROM audit ORDER BY seq")]
    assert (
        actions.index("approval.requested")
        < actions.index("approval.approved")
        < actions.index("tool.allow")
    )


# --- edited arguments go through the whole pipeline again -------------------------------
TIERS = {"rules": [
    {"name": "no-huge-refunds", "when": {"tool": "refund", "args": {"amount": {"gt": 10_000}}},
     "decide": "deny", "reason": "no refund above 10000"},
    {"name": "finance-refunds", "when": {"tool": "refund", "args": {"amount": {"gt": 1000}}},
     "decide": "approve", "approver": "finance-lead"},
    {"name": "support-refunds", "when": {"tool": "refund", "args": {"amount": {"gt": 100}}},
     "decide": "approve", "approver": "support-lead"},
]}  # fmt: skip


async def test_an_edited_call_that_a_rule_denies_is_denied(tmp_path: Path) -> None:
    ledger = Ledger()
    async with runtime(tmp_path, TIERS, refund_model(200.0), ledger.tools()) as rt:
        rec = await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        await rt.control.approve(a.id, by="olga", arguments={"order_id": "A-1", "amount": 50_000.0})
        done = await rt.wait(rec.id, timeout=10)
        journal = await rt.history.journal(rec.id)
    assert ledger.refunds == []  # the edit did not get past "deny above 10000"
    assert done.output.startswith("ERROR: the call as edited by olga is refused")
    assert "no refund above 10000" in done.output
    result = next(e for e in journal if e.phase == "result" and e.kind == "tool")
    assert result.payload.get("denied") is True


async def test_an_edited_call_under_a_stricter_rule_needs_a_second_approval(
    tmp_path: Path,
) -> None:
    ledger = Ledger()
    async with runtime(tmp_path, TIERS, refund_model(200.0), ledger.tools()) as rt:
        rec = await rt.submit("clerk", "refund A-1")
        first = await next_approval(rt)
        assert (first.rule, first.assignee) == ("support-refunds", "support-lead")
        await rt.control.approve(
            first.id, by="sam", arguments={"order_id": "A-1", "amount": 5000.0}
        )
        second = await next_approval(rt)
        parked = await rt.wait(rec.id, timeout=10)
        assert ledger.refunds == []  # support may not approve what finance must
        assert parked.status.value == "waiting"
        assert (second.rule, second.assignee) == ("finance-refunds", "finance-lead")
        assert second.request["call"]["arguments"]["amount"] == 5000.0
        assert second.request["approved"][0]["by"] == "sam"
        await rt.control.approve(second.id, by="fiona")
        done = await rt.wait(rec.id, timeout=10)
        assert rt.governance is not None
        verdict = await rt.governance.store.audit.verify()
        assert verdict.ok, verdict  # both decisions are journaled and audited
    assert done.status.value == "succeeded"
    assert ledger.refunds == [{"order_id": "A-1", "amount": 5000.0}]


async def test_edited_arguments_that_are_not_valid_are_refused(tmp_path: Path) -> None:
    ledger = Ledger()
    async with runtime(tmp_path, POLICY, refund_model(), ledger.tools()) as rt:
        rec = await rt.submit("clerk", "refund A-1")
        a = await next_approval(rt)
        await rt.control.approve(a.id, by="olga", arguments={"order_id": "A-1", "amount": "lots"})
        done = await rt.wait(rec.id, timeout=10)
    assert ledger.refunds == []
    assert "the edited arguments are not valid" in done.output


async def test_invalid_arguments_never_ask_for_an_approval(tmp_path: Path) -> None:
    ledger = Ledger()
    every_refund = {"rules": [{"name": "all", "when": {"tool": "refund"}, "decide": "approve"}]}
    model = plan(("refund", {"order_id": "A-1", "amount": "lots"}), final=lambda r: r[0])
    async with runtime(tmp_path, every_refund, model, ledger.tools()) as rt:
        rec = await rt.run("clerk", "refund A-1", timeout=10)
        assert rt.governance is not None
        assert rt.governance.approvals.requested.empty()
        assert await rt.governance.store.approvals.list(rt.workspace, status=None) == []
    assert rec.status.value == "succeeded"
    assert rec.output.startswith("ERROR: invalid arguments for refund: amount")
