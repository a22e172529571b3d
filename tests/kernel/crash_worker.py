"""A worker process for the crash-recovery test (not a test itself).

It runs (or, after a crash, recovers) N agent runs whose tools leave traces
in an effects log and a payments ledger, and prints "ACK run seq" once a
syscall result is journaled, so the test knows what was acknowledged."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys

from orgos import Agent, RunStatus, Runtime, tool
from orgos.kernel.syscall import Syscall
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.result import Result
from orgos.store import RunFilter
from orgos.testing.scripted import ScriptedModel

DB, EFFECTS, LEDGER, N_RUNS, STEPS = sys.argv[1:6]
SUBMIT = "--submit" in sys.argv
effects_fd = os.open(EFFECTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


@tool(idempotent=True)
async def effect(label: str, n: int) -> str:
    """An idempotent effect; every execution leaves a line."""
    os.write(effects_fd, f"effect:{label}:{n}\n".encode())
    await asyncio.sleep(0.001)
    return f"effect {n} done"


@tool
def pay(label: str, n: int, idempotency_key: str) -> str:
    """A non-idempotent payment made safe by its key."""
    os.write(effects_fd, f"pay:{label}:{n}\n".encode())
    conn = sqlite3.connect(LEDGER, timeout=10)
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ledger (key TEXT PRIMARY KEY, label, n)")
        conn.execute("INSERT OR IGNORE INTO ledger VALUES (?,?,?)", (idempotency_key, label, n))
    conn.close()
    return f"paid {n}"


def respond(req: ModelRequest) -> ModelResponse:
    label = req.messages[1].content
    n = sum(1 for m in req.messages if m.role == "assistant")
    if n >= int(STEPS):
        return ScriptedModel.final(f"{label} finished")
    name = "pay" if n % 3 == 2 else "effect"
    return ScriptedModel.call(name, label=label, n=n)


def ack(sc: Syscall, result: Result) -> None:
    print(f"ACK {sc.run.id} {sc.seq}", flush=True)


async def main() -> None:
    rt = Runtime(
        store=DB,
        agents=[Agent(name="w", tools=[effect, pay], max_steps=100)],
        tools=[effect, pay],
        models=ScriptedModel(respond, latency=0.002, record=False),
        poll_interval=0.05,
        lease_ttl=60,
    )
    rt.kernel.pipeline.after.append(ack)
    async with rt:
        if SUBMIT:
            for i in range(int(N_RUNS)):
                await rt.submit("w", f"job-{i}")
            print("SUBMITTED", flush=True)
        runs = await rt.store.list_runs(RunFilter(rt.workspace, limit=100_000))
        for r in runs:
            done = await rt.wait(r.id, timeout=120)
            if done.status is not RunStatus.SUCCEEDED:
                print(f"BAD {r.id} {done.status} {done.error}", flush=True)
    print("ALLDONE", flush=True)


asyncio.run(main())
