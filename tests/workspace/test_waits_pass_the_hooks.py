"""Waits are syscalls like the others: every before-hook sees them (policy,
the kill switch, a service's own checks), and a denial reaches the run."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ws_helpers import run_code, runtime

from orgos.kernel.context import RunContext
from orgos.kernel.syscall import Syscall, Verdict
from orgos.result import Denied
from orgos.shared import workspace_of
from orgos.store.waiting import WaitEvent


async def helper(ctx: RunContext) -> str:
    return "helped"


async def test_a_before_hook_sees_every_wait(tmp_path: Path) -> None:
    seen: list[tuple[str, Any]] = []
    waited: list[list[str]] = []

    async def hook(sc: Syscall) -> Verdict | None:
        if sc.run.target == "seller":
            seen.append((sc.kind, sc.request))
        return None

    async def seller(ctx: RunContext) -> list[Any]:
        first = (await ctx.spawn([("agent", "helper", None)])).unwrap()
        waited.append(first)
        (done,) = await ctx.wait_runs(first)
        second = (await ctx.spawn([("agent", "helper", None)])).unwrap()
        ended = await ctx.wait_any(second)
        ev = await workspace_of(ctx).bus.wait_event(ctx, "go")
        return [done.output, ended.ended[0].output, ev.data]

    rt, _ = runtime(tmp_path, {"seller": seller, "helper": helper})
    rt.kernel.pipeline.add_before(hook)
    async with rt:
        q = rt.kernel.events.subscribe(None)
        rec = await rt.kernel.submit("agent", "seller", None)
        async with asyncio.timeout(20):  # until it waits for the event, then publish it
            while True:
                ev = await q.get()
                if ev.run_id == rec.id and ev.type == "status":
                    now = await rt.get_run(rec.id)
                    if isinstance(now.waiting_on, WaitEvent):
                        break
        await rt.bus.publish_as("ada", "go", 7)
        done = await rt.kernel.wait(rec.id, timeout=20)
    assert done.status.value == "succeeded", done.error
    assert done.output == ["helped", "helped", 7]
    kinds = [k for k, _ in seen]
    assert {"delegate", "wait", "bus.mark", "bus.wait"} <= set(kinds)
    waits = [r for k, r in seen if k == "wait"]
    assert {"runs": waited[0]} in waits
    assert {"runs": 1, "any": True} in waits
    assert any(k == "bus.wait" and r["topic"] == "go" for k, r in seen)


async def test_a_hook_that_denies_a_wait_is_heard(tmp_path: Path) -> None:
    async def no_waits(sc: Syscall) -> Verdict | None:
        return Verdict.deny("no waiting today") if sc.kind == "wait" else None

    async def seller(ctx: RunContext) -> str:
        kids = (await ctx.spawn([("agent", "helper", None)])).unwrap()
        with pytest.raises(Denied, match="no waiting today"):
            await ctx.wait_runs(kids)
        return "went on"

    rt, _ = runtime(tmp_path, {"seller": seller, "helper": helper})
    rt.kernel.pipeline.add_before(no_waits, kinds=["wait"])
    async with rt:
        assert await run_code(rt, "seller") == "went on"
