"""Daily budgets hold across worker processes: each model call's tokens and
cost are in its audit record, committed with its result, and every worker
counts the other workers' records into its totals (within its
``switch_interval``). Two runtimes on one store stand for two processes:
each has its own worker id, meter and store connections."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from gov_helpers import Ledger, plan, runtime

from orgos import Agent
from orgos.config.org import OrgSpec, TeamSpec

#: The scripted model is priced at 1 per token: costs are token counts.
PRICES = {"scripted": {"input": 1_000_000, "output": 1_000_000}}
AGENTS = [Agent(name="clerk", tools=["lookup"], team="support"),
          Agent(name="other", tools=["lookup"], team="support")]  # fmt: skip
ORG = OrgSpec(teams=[TeamSpec(name="support")])


@pytest.mark.parametrize(
    ("budgets", "why"),
    [
        ({"agents": {"clerk": {"tokens": 30}}}, "budget exhausted: agent clerk today used"),
        ({"teams": {"support": {"cost": 30}}}, "budget exhausted: team support today spent"),
        ({"day": {"tokens": 30}}, "budget exhausted: the workspace today used"),
    ],
)
async def test_two_workers_see_each_others_spend(
    tmp_path: Path, budgets: dict[str, Any], why: str
) -> None:
    policy = {"prices": PRICES, "budgets": budgets}
    model = plan(("lookup", {"order_id": "A-1"}))
    ledger = Ledger()
    async with AsyncExitStack() as stack:
        one, two = [
            await stack.enter_async_context(
                runtime(tmp_path, policy, model, ledger.tools(), agents=AGENTS, org=ORG)
            )
            for _ in range(2)
        ]  # both started before anything was spent
        first = await one.run("clerk", "t0", timeout=10)
        assert first.status.value == "succeeded"
        spent = one.governance.budgets.meter.day.tokens  # type: ignore[union-attr]
        assert spent >= 30  # one run is over every budget above
        late = await two.run("clerk", "t1", timeout=10)
        assert late.status.value == "failed" and why in (late.error or ""), late.error
        # and the other way round: what two spent (nothing) does not count twice
        assert two.governance.budgets.meter.day.tokens == spent  # type: ignore[union-attr]
        again = await one.run("clerk", "t2", timeout=10)
        assert again.status.value == "failed" and why in (again.error or "")
        assert one.governance.budgets.meter.day.tokens == spent  # type: ignore[union-attr]


@pytest.mark.sqlite_file
async def test_usage_rides_in_the_audit_record(tmp_path: Path) -> None:
    model = plan(("lookup", {"order_id": "A-1"}))
    async with runtime(tmp_path, {"prices": PRICES}, model, Ledger().tools()) as rt:
        run = await rt.run("clerk", "t0", timeout=10)
        worker = rt.kernel.worker_id
        journal = await rt.history.journal(run.id)
    usage = [e.payload["ok"]["usage"] for e in journal if e.kind == "llm" and e.phase == "result"]
    conn = sqlite3.connect(tmp_path / "o.db")
    rows = [json.loads(d) for (d,) in conn.execute(
        "SELECT data FROM audit WHERE action='llm.allow' ORDER BY seq")]  # fmt: skip
    assert [r["tokens"] for r in rows] == [u["input_tokens"] + u["output_tokens"] for u in usage]
    assert [r["cost"] for r in rows] == [float(r["tokens"]) for r in rows]
    assert {r["worker"] for r in rows} == {worker}
