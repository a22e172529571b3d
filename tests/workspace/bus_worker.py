"""A publisher or consumer process for the bus kill -9 test (not a test).

publish DB N: publishes events k0..k(N-1) on "jobs", each keyed, printing
"PUB i id" once committed. Restarted, it publishes them all again: the keys
make the repeats no-ops.

consume DB N SINK [--hold]: reads pending events, appends "id key" to SINK
for each, prints "BATCH last_id", then acknowledges. With --hold it waits for
a line on stdin before acknowledging (so the test can kill it in between).
Prints "DONE" once it has acknowledged everything up to the N-th event."""

from __future__ import annotations

import asyncio
import os
import sys

from orgos import Runtime
from orgos.testing.scripted import ScriptedModel

MODE, DB, N = sys.argv[1], sys.argv[2], int(sys.argv[3])


async def publish(rt: Runtime) -> None:
    for i in range(N):
        eid = await rt.bus.publish_as("pub", "jobs", {"i": i}, key=f"k{i}")
        print(f"PUB {i} {eid}", flush=True)
    print("DONE", flush=True)


async def consume(rt: Runtime, sink: str, hold: bool) -> None:
    await rt.bus.subscribe("worker", "jobs", from_start=True)
    fd = os.open(sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    while True:
        batch = await rt.bus.pending("worker", "jobs", limit=25)
        if not batch:
            if await _published_all(rt):
                break
            await asyncio.sleep(0.005)  # the publisher is another process: poll the store
            continue
        for ev in batch:
            os.write(fd, f"{ev.id} {ev.key}\n".encode())
        print(f"BATCH {batch[-1].id}", flush=True)
        if hold:
            sys.stdin.readline()
        await rt.bus.ack("worker", "jobs", batch[-1].id)
    print("DONE", flush=True)


async def _published_all(rt: Runtime) -> bool:
    return len(await rt.store.bus.after(rt.workspace, "jobs", 0, N)) >= N


async def main() -> None:
    rt = Runtime(store=DB, models=ScriptedModel(), adopt=False, poll_interval=0.05)
    async with rt:
        if MODE == "publish":
            await publish(rt)
        else:
            await consume(rt, sys.argv[4], "--hold" in sys.argv)


asyncio.run(main())
