"""Budgets stop a run cleanly; rate limits make it wait; usage is reported;
kill switches pause and resume agents, teams and everything; the breaker
trips and says why."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from gov_helpers import VAULT_KEY, Ledger, plan, runtime
from stores import store_for

from orgos import Agent, Runtime
from orgos.config.org import OrgSpec, TeamSpec
from orgos.errors import ConfigError, NotFound
from orgos.policy import Governance
from orgos.store.waiting import WaitPaused
from orgos.testing import ScriptedModel

#: The scripted model is priced at 1 per token: costs are token counts.
PRICES = {"scripted": {"input": 1_000_000, "output": 1_000_000}}


async def test_a_budget_exhausted_mid_run_stops_it_cleanly(tmp_path: Path) -> None:
    ledger = Ledger()
    steps = [("lookup", {"order_id": f"A-{i}"}) for i in range(6)]
    model = plan(*steps, ("refund", {"order_id": "A-1", "amount": 5}))
    policy = {"prices": PRICES, "budgets": {"run": {"cost": 150}}}
    async with runtime(tmp_path, policy, model, ledger.tools(), max_active=10) as rt:
        run = await rt.run("clerk", "look them all up", timeout=10)
        journal = await rt.history.journal(run.id)
        gov = rt.governance
        assert gov is not None
        tally = gov.budgets.meter.run(run.id)
    assert run.status.value == "failed"
    assert (
        run.error is not None and "budget exhausted: run" in run.error and "of its 150" in run.error
    )
    assert tally is not None and tally.cost >= 150
    assert ledger.refunds == []  # never reached
    # nothing half-done: every intent has its result
    intents = {e.seq for e in journal if e.phase == "intent"}
    results = {e.seq for e in journal if e.phase == "result"}
    assert intents == results
    assert journal[-1].phase == "status" and journal[-1].kind == "failed"


async def test_daily_agent_and_team_budgets_and_usage(tmp_path: Path) -> None:
    ledger = Ledger()
    agents = [Agent(name="clerk", tools=["lookup"], team="support"),
              Agent(name="other", tools=["lookup"], team="support")]  # fmt: skip
    org = OrgSpec(teams=[TeamSpec(name="support")])
    policy = {"prices": PRICES, "budgets": {"teams": {"support": {"tokens": 250}}}}
    model = plan(("lookup", {"order_id": "A-1"}))
    async with runtime(tmp_path, policy, model, ledger.tools(), agents=agents, org=org) as rt:
        outcomes = [await rt.run(("clerk", "other")[i % 2], f"t{i}", timeout=10) for i in range(12)]
        gov = rt.governance
        assert gov is not None
        spent = gov.budgets.meter.teams["support"].tokens
    ok = [r for r in outcomes if r.status.value == "succeeded"]
    stopped = [r for r in outcomes if r.status.value == "failed"]
    assert ok and stopped and outcomes.index(stopped[0]) == len(ok)  # all fine, then all stopped
    assert all("budget exhausted: team support today used" in (r.error or "") for r in stopped)
    assert spent >= 250
    # a restarted runtime remembers what the team spent today
    async with runtime(tmp_path, policy, model, ledger.tools(), agents=agents, org=org) as rt:
        again = await rt.run("clerk", "four", timeout=10)
    assert again.status.value == "failed" and "team support today" in (again.error or "")


async def test_rate_limit_waits_instead_of_failing(tmp_path: Path) -> None:
    ledger = Ledger()
    policy = {"rate_limits": {"default": {"requests_per_minute": 600}}}  # 10 per second
    async with runtime(tmp_path, policy, plan(), ledger.tools()) as rt:
        t0 = time.monotonic()
        runs = await asyncio.gather(*(rt.run("clerk", f"t{i}", timeout=30) for i in range(620)))
        took = time.monotonic() - t0
    assert all(r.status.value == "succeeded" for r in runs)
    assert took >= 1.5  # 600 at once, 20 more at 10 per second


def test_usage_report_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from orgos.cli import app

    runner = CliRunner()
    proj = tmp_path / "p"
    assert runner.invoke(app, ["init", str(proj)]).exit_code == 0
    (proj / "policy.yaml").write_text(
        "prices: {scripted: {input: 1000000, output: 1000000}}\ncurrency: EUR\n"
    )
    model = tmp_path / "m.py"
    model.write_text("from orgos.testing import ScriptedModel\nmodel = ScriptedModel(['hi'])\n")
    out = runner.invoke(
        app, ["-p", str(proj), "run", "assistant", "hello"], env={"ORGOS_MODEL_SCRIPT": str(model)}
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["-p", str(proj), "usage", "--by", "agent"])
    assert out.exit_code == 0, out.output
    line = next(ln for ln in out.output.splitlines() if ln.startswith("assistant"))
    calls, tokens, cost, cur = line.split()[1:]
    assert calls == "1" and float(cost) == float(tokens.replace(",", "")) and cur == "EUR"
    assert runner.invoke(app, ["-p", str(proj), "usage", "--by", "run"]).exit_code == 0


async def test_pause_and_resume_an_agent_a_team_and_everything(tmp_path: Path) -> None:
    ledger = Ledger()
    agents = [Agent(name="clerk", tools=["lookup"], team="support"),
              Agent(name="other", tools=["lookup"], team="sales")]  # fmt: skip
    org = OrgSpec(teams=[TeamSpec(name="support"), TeamSpec(name="sales")])
    model = plan(("lookup", {"order_id": "A-1"}))
    async with runtime(tmp_path, {}, model, ledger.tools(), agents=agents, org=org) as rt:
        gov = rt.governance
        assert gov is not None
        for scope, blocked, free in (("agent:clerk", "clerk", "other"),
                                     ("team:sales", "other", "clerk"), ("all", "clerk", None)):  # fmt: skip
            await gov.switches.pause(scope, "maintenance", "olga")
            parked = await rt.submit(blocked, "task")
            if free is not None:
                assert (await rt.run(free, "task", timeout=10)).status.value == "succeeded"
            rec = await _parked(rt, parked.id)
            assert rec.waiting_on == WaitPaused(scope)
            assert rec.error is not None and "maintenance" in rec.error
            woke = await gov.switches.unpause(scope, "olga")
            assert parked.id in woke
            assert (await rt.wait(parked.id, timeout=10)).status.value == "succeeded"


async def _parked(rt, run_id):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(10):
        while True:
            rec = await rt.store.get_run(rt.workspace, run_id)
            if rec.status.value == "waiting":
                return rec
            await asyncio.sleep(0.01)


async def test_the_breaker_trips_on_errors_and_says_why(tmp_path: Path) -> None:
    ledger = Ledger()
    model = plan(*[("lookup", {"wrong": i}) for i in range(5)], ("lookup", {"order_id": "A-1"}))
    policy = {"breaker": {"window": 60, "max_errors": 3}}
    async with runtime(tmp_path, policy, model, ledger.tools()) as rt:
        rec = await rt.submit("clerk", "go")
        parked = await _parked(rt, rec.id)
        gov = rt.governance
        assert gov is not None
        switches = await gov.store.governance.switches(rt.workspace)
    assert parked.waiting_on == WaitPaused("agent:clerk")
    assert switches["agent:clerk"] == "breaker: 3 failed tool calls in 60 s"
    assert "breaker: 3 failed tool calls" in (parked.error or "")


async def test_a_policy_reload_keeps_the_rate_limit_buckets(tmp_path: Path) -> None:
    now, waits = [0.0], []

    async def sleep(seconds: float) -> None:  # the injected clock moves; nothing sleeps
        waits.append(seconds)
        now[0] += seconds

    path = tmp_path / "policy.yaml"
    limits = "rate_limits: {default: {requests_per_minute: 2}}\n"
    path.write_text(limits)
    gov = Governance(path, reload_interval=0.0, switch_interval=0.0, vault_key=VAULT_KEY,
                     clock=lambda: now[0], sleep=sleep)  # fmt: skip
    async with Runtime(store=store_for(tmp_path), agents=[Agent(name="clerk")],
                       models=ScriptedModel(lambda r: ScriptedModel.final("ok")),
                       governance=gov) as rt:  # fmt: skip
        for i in range(2):  # this minute's two requests
            assert (await rt.run("clerk", f"t{i}", timeout=10)).status.value == "succeeded"
        assert waits == []
        path.write_text(limits + "rules: [{name: r, when: {tool: x}, decide: deny}]\n")
        third = await rt.run("clerk", "t2", timeout=10)
    assert gov.source.generation == 1  # the policy was reloaded ...
    assert third.status.value == "succeeded"
    assert sum(waits) == pytest.approx(30.0)  # ... and the spent bucket still made it wait


async def test_pausing_an_agent_or_team_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    ledger = Ledger()
    org = OrgSpec(teams=[TeamSpec(name="support")])
    agents = [Agent(name="clerk", tools=["lookup"], team="support")]
    async with runtime(tmp_path, {}, plan(), ledger.tools(), agents=agents, org=org) as rt:
        gov = rt.governance
        assert gov is not None
        with pytest.raises(ValueError, match="no agent named 'clerc' to pause; agents: clerk"):
            await gov.switches.pause("agent:clerc", "typo", "olga")
        with pytest.raises(ValueError, match="no team named 'suport' to pause; teams: support"):
            await gov.switches.pause("team:suport", "typo", "olga")
        assert await gov.store.governance.switches(rt.workspace) == {}


def test_orgos_pause_refuses_an_unknown_agent(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from orgos.cli import app

    proj = tmp_path / "p"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(proj)]).exit_code == 0
    out = runner.invoke(app, ["-p", str(proj), "pause", "agent:asistant"])
    assert out.exit_code != 0
    assert "no agent named 'asistant' to pause; agents: assistant" in out.output
    assert "paused" not in out.output.replace("to pause", "")


async def test_an_agent_added_before_start_is_held_to_the_workspace_boundary(
    tmp_path: Path,
) -> None:
    ledger = Ledger()
    policy = {"boundary": {"tools": ["lookup"]}}
    rt = runtime(
        tmp_path, policy, plan(), ledger.tools(), agents=[Agent(name="clerk", tools=["lookup"])]
    )
    rt.add_agent(Agent(name="rogue", tools=["refund"]))
    with pytest.raises(ConfigError, match="'rogue' is given tools outside the workspace boundary"):
        await rt.start()
    await rt.close()


async def test_adding_an_agent_to_a_started_runtime_is_refused(tmp_path: Path) -> None:
    ledger = Ledger()
    async with runtime(tmp_path, {}, plan(), ledger.tools()) as rt:
        with pytest.raises(ConfigError, match="cannot add agent 'late' to a started runtime"):
            rt.add_agent(Agent(name="late", tools=["refund"]))
        assert "late" not in rt.agents
        with pytest.raises(NotFound):
            await rt.submit("late", "x")


async def test_unpausing_a_tripped_breaker_admits_exactly_one_trial_run(tmp_path: Path) -> None:
    from orgos.llm.base import ModelRequest, ModelResponse
    from orgos.policy.trial import TRIAL

    entered: list[str] = []
    first, release = asyncio.Event(), asyncio.Event()

    async def respond(req: ModelRequest) -> ModelResponse:
        task = req.messages[1].content
        results = [m.content for m in req.messages if m.role == "tool"]
        if task == "bad":  # fails twice: the breaker trips
            return (
                ScriptedModel.call("lookup", wrong=1)
                if len(results) < 2
                else ScriptedModel.final("x")
            )
        entered.append(task)
        if len(entered) == 1:
            first.set()
            await release.wait()  # the trial holds here while the others try
        return ScriptedModel.final(task)

    ledger = Ledger()
    policy = {"breaker": {"window": 60, "max_errors": 2}}
    async with runtime(tmp_path, policy, ScriptedModel(respond), ledger.tools()) as rt:
        gov = rt.governance
        assert gov is not None
        bad = await rt.submit("clerk", "bad")
        await _parked(rt, bad.id)
        goods = [await rt.submit("clerk", f"good{i}") for i in range(3)]
        for g in goods:
            await _parked(rt, g.id)
        await rt.control.cancel(bad.id)  # the culprit is dealt with; three runs wait
        woke = await gov.switches.unpause("agent:clerk", "olga")
        assert sorted(woke) == sorted(g.id for g in goods)
        async with asyncio.timeout(10):
            await first.wait()
        holder = (await gov.store.governance.switches(rt.workspace))["agent:clerk"]
        assert holder.startswith(TRIAL)  # still switched: half-open, held by one run
        trial_id = holder[len(TRIAL) :]
        assert entered == [next(g.input["task"] for g in goods if g.id == trial_id)]
        release.set()
        ends = [await rt.wait(g.id, timeout=10) for g in goods]
        assert (
            await gov.store.governance.switches(rt.workspace) == {}
        )  # the trial succeeded: lifted
    assert all(e.status.value == "succeeded" for e in ends)
    assert sorted(entered) == ["good0", "good1", "good2"]
