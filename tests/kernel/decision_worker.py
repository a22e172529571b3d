"""A worker process for the in-doubt decision test (not a test itself).

One run calls ``charge``, a non-idempotent tool without an idempotency key,
that records its effect in a ledger file (fsynced) and then, with
``--block``, hangs: the test kills the process there, with the call in doubt.

``start``: submit the run. ``recover``: recover it; when it parks for a
decision print ``PARKED <run> <seq> <attempt>``; with ``--decide ACTION``
answer it and go on. Prints ``CHARGED`` after each effect and ``END <status>``
when the run ends."""

from __future__ import annotations

import asyncio
import os
import sys

from orgos import Agent, Runtime, tool
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.store import RunFilter
from orgos.store.waiting import WaitDecision
from orgos.testing.scripted import ScriptedModel

DB, LEDGER, MODE = sys.argv[1:4]
BLOCK = "--block" in sys.argv
DECIDE = sys.argv[sys.argv.index("--decide") + 1] if "--decide" in sys.argv else None


@tool
async def charge(order: str) -> str:
    """Charge a card once; not safe to repeat."""
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"charge:{order}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    print("CHARGED", flush=True)
    if BLOCK:
        await asyncio.Event().wait()  # killed here, the call in doubt
    return f"charged {order}"


def respond(req: ModelRequest) -> ModelResponse:
    if any(m.role == "tool" for m in req.messages):
        return ScriptedModel.final("all charged")
    return ScriptedModel.call("charge", order="A-1")


async def main() -> None:
    rt = Runtime(
        store=DB,
        agents=[Agent(name="cashier", tools=["charge"])],
        tools=[charge],
        models=ScriptedModel(respond),
        poll_interval=0.05,
        lease_ttl=60,
    )
    async with rt:
        if MODE == "start":
            rec = await rt.submit("cashier", "charge A-1")
        else:
            (rec,) = await rt.store.list_runs(RunFilter(rt.workspace, limit=10))
        done = await rt.wait(rec.id, timeout=60)
        decision = done.waiting_on
        if isinstance(decision, WaitDecision):
            print(f"PARKED {rec.id} {decision.seq} {decision.attempt}", flush=True)
            if DECIDE is None:
                return
            await rt.control.decide(rec.id, DECIDE)
            done = await rt.wait(rec.id, timeout=60)
        print(f"END {done.status.value}", flush=True)


asyncio.run(main())
