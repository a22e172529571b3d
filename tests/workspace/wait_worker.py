"""A worker process for the parked-wait crash test (not a test itself).

Each run writes a file, parks until the event ``go.<i>``, then publishes
``done``. Prints "ACK run seq" once a syscall result is journaled and
"ALLDONE" when every run has ended."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from orgos import Agent, RunStatus, Runtime
from orgos.kernel.context import RunContext
from orgos.kernel.syscall import Syscall
from orgos.store import RunFilter
from orgos.testing.scripted import ScriptedModel

DB, N_RUNS = sys.argv[1], int(sys.argv[2])
SUBMIT = "--submit" in sys.argv


class Job:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def resolve_version(self, workspace: str, target: str) -> int:
        return await self.rt.registry.latest_version(workspace, target)

    async def __call__(self, ctx: RunContext) -> Any:
        i = ctx.run.input
        v = await self.rt.files.write(ctx, f"agents/a/job{i}.txt", f"job {i}")
        ev = await self.rt.bus.wait_event(ctx, f"go.{i}")
        await self.rt.bus.publish(ctx, "done", {"i": i, "go": ev.id})
        return v.version


def ack(sc: Syscall, result: object) -> None:
    print(f"ACK {sc.run.id} {sc.seq}", flush=True)


async def main() -> None:
    rt = Runtime(store=DB, agents=[Agent(name="a")], models=ScriptedModel(),
                 poll_interval=0.05, lease_ttl=60)  # fmt: skip
    rt.kernel.programs["agent"] = Job(rt)
    rt.kernel.pipeline.after.append(ack)
    async with rt:
        if SUBMIT:
            for i in range(N_RUNS):
                await rt.kernel.submit("agent", "a", i)
            print("SUBMITTED", flush=True)
        runs = await rt.store.list_runs(RunFilter(rt.workspace, limit=100_000))
        for r in runs:
            done = await rt.wait(r.id, timeout=120)
            if done.status is not RunStatus.SUCCEEDED:
                print(f"BAD {r.id} {done.status} {done.error}", flush=True)
    print("ALLDONE", flush=True)


asyncio.run(main())
