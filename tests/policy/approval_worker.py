"""A worker process for the approval kill -9 test (not a test itself).

With --submit it starts one run whose refund needs approval and prints
"PARKED <approval id> <run id>" once the run is parked. Every incarnation
then works until that run ends and prints "DONE <status> <output>"."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from orgos import Agent, Runtime, tool
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.policy import Governance, PolicySpec
from orgos.store import RunFilter
from orgos.testing import ScriptedModel

DB, EFFECTS = sys.argv[1:3]
SUBMIT = "--submit" in sys.argv
KEY = os.environ["ORGOS_VAULT_KEY"].encode()


@tool
def refund(order_id: str, amount: float, idempotency_key: str) -> str:
    """Refund a customer."""
    with open(EFFECTS, "a") as f:
        f.write(f"refund {order_id} {amount} {idempotency_key}\n")
    return f"refunded {amount}"


def respond(req: ModelRequest) -> ModelResponse:
    results = [m.content for m in req.messages if m.role == "tool"]
    if not results:
        return ScriptedModel.call("refund", order_id="A-1", amount=900.0)
    return ScriptedModel.final(results[0])


POLICY = PolicySpec.model_validate({
    "rules": [{"name": "big", "when": {"tool": "refund", "args": {"amount": {"gt": 500}}},
               "decide": "approve"}],
})  # fmt: skip


async def main() -> None:
    rt = Runtime(store=DB, agents=[Agent(name="clerk", tools=["refund"])], tools=[refund],
                 models=ScriptedModel(respond), poll_interval=0.05, lease_ttl=60,
                 governance=Governance(POLICY, vault_key=KEY))  # fmt: skip
    async with rt:
        if SUBMIT:
            rec = await rt.submit("clerk", "refund order A-1")
            assert rt.governance is not None
            a = await asyncio.wait_for(rt.governance.approvals.requested.get(), 30)
            print(f"PARKED {a.id} {rec.id}", flush=True)
        runs = await rt.store.list_runs(RunFilter(rt.workspace, limit=10))
        print("READY", flush=True)
        while True:  # parked runs count as "waited for"; look again until it ends
            rec2: Any = await rt.kernel.wait(runs[0].id)
            if rec2.status.terminal:
                break
            await asyncio.sleep(0.05)
        print(f"DONE {rec2.status.value} {rec2.output}", flush=True)


asyncio.run(main())
