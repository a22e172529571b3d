"""Scheduling: per-agent concurrency limits and fair share between teams."""

from __future__ import annotations

import asyncio
from pathlib import Path

from stores import store_for

from orgos import Agent, RunStatus, Runtime
from orgos.config.org import OrgSpec, TeamSpec
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing import ScriptedModel


async def test_an_agent_never_runs_more_than_its_limit(tmp_path: Path) -> None:
    running, peak = [0], [0]

    async def respond(req: ModelRequest) -> ModelResponse:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.02)
        running[0] -= 1
        return ScriptedModel.final("ok")

    agents = [Agent(name="narrow", max_concurrent=2)]
    async with Runtime(store=store_for(tmp_path), agents=agents, models=ScriptedModel(respond),
                       poll_interval=0.05) as rt:  # fmt: skip
        recs = [await rt.submit("narrow", f"job {i}") for i in range(8)]
        done = [await rt.wait(r.id, timeout=20) for r in recs]
    assert all(d.status is RunStatus.SUCCEEDED for d in done)
    assert peak[0] == 2


async def test_one_teams_burst_does_not_starve_another(tmp_path: Path) -> None:
    """Team alpha floods the worker (4 slots) with 20 runs, then team beta
    asks for 2: the first slot that frees goes to beta, not to alpha's
    queue (first come, first served would run all of alpha's burst first)."""
    done_one = asyncio.Semaphore(0)
    all_go = asyncio.Event()
    four = asyncio.Event()
    b_started = asyncio.Event()
    started: list[str] = []

    async def respond(req: ModelRequest) -> ModelResponse:
        agent = req.messages[0].content.split()[2].rstrip(".")
        started.append(agent)
        if agent == "b":
            b_started.set()
            return ScriptedModel.final("b done")
        if started.count("a") == 4:
            four.set()
        if not all_go.is_set():
            await done_one.acquire()  # the test lets alpha's runs end one at a time
        return ScriptedModel.final("a done")

    agents = [Agent(name="a", team="alpha"), Agent(name="b", team="beta")]
    org = OrgSpec(teams=[TeamSpec(name="alpha"), TeamSpec(name="beta")])
    async with Runtime(store=store_for(tmp_path), agents=agents, org=org, max_active=4,
                       models=ScriptedModel(respond), poll_interval=0.05) as rt:  # fmt: skip
        burst = [await rt.submit("a", f"a {i}") for i in range(20)]
        await asyncio.wait_for(four.wait(), 5)  # idle slots went to alpha: it was alone
        late = [await rt.submit("b", f"b {i}") for i in range(2)]
        done_one.release()  # one of alpha's runs ends: its slot goes to beta
        await asyncio.wait_for(b_started.wait(), 5)
        assert started.count("a") == 4
        all_go.set()
        for _ in range(20):
            done_one.release()
        b_done = [await rt.wait(r.id, timeout=20) for r in late]
        a_done = [await rt.wait(r.id, timeout=20) for r in burst]
    assert all(d.status is RunStatus.SUCCEEDED for d in b_done + a_done)


async def test_idle_slots_go_to_whoever_has_work(tmp_path: Path) -> None:
    """Fair share is work-conserving: alone, a team uses every slot."""
    running, peak = [0], [0]
    go = asyncio.Event()

    async def respond(req: ModelRequest) -> ModelResponse:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        if running[0] == 4:
            go.set()
        await asyncio.wait_for(go.wait(), 5)
        running[0] -= 1
        return ScriptedModel.final("ok")

    agents = [Agent(name="a", team="alpha"), Agent(name="b", team="beta")]
    org = OrgSpec(teams=[TeamSpec(name="alpha"), TeamSpec(name="beta")])
    async with Runtime(store=store_for(tmp_path), agents=agents, org=org, max_active=4,
                       models=ScriptedModel(respond), poll_interval=0.05) as rt:  # fmt: skip
        recs = [await rt.submit("a", f"a {i}") for i in range(8)]
        done = [await rt.wait(r.id, timeout=20) for r in recs]
    assert all(d.status is RunStatus.SUCCEEDED for d in done)
    assert peak[0] == 4
