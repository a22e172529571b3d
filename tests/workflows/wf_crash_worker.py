"""A worker process for the workflow crash test (not a test itself).

Runs (or, after a crash, recovers) one workflow: a list step, a fan-out of
N branches whose tool leaves a line in an effects log, and a fan-in. Prints
"DONE item" once a branch's run has ended durably, and "ALLDONE status" at
the end."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from orgos import Agent, Runtime, tool
from orgos.config.workflow import WorkflowSpec
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.store import RunFilter, RunRecord
from orgos.testing.scripted import ScriptedModel

DB, EFFECTS, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
SUBMIT = "--submit" in sys.argv
effects_fd = os.open(EFFECTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


@tool(idempotent=True)
async def work(item: int) -> int:
    """Work on one item; every execution leaves a line."""
    await asyncio.sleep(0.05 + 0.04 * item)  # branches end one after another
    os.write(effects_fd, f"work:{item}\n".encode())
    return item * item


def respond(req: ModelRequest) -> ModelResponse:
    system, task = req.messages[0].content, req.messages[1].content
    tools = [json.loads(m.content) for m in req.messages if m.role == "tool"]
    if system.startswith("You are lister"):
        return ScriptedModel.final({"data": list(range(N)), "summary": "items", "confidence": 1})
    if system.startswith("You are summer"):
        return ScriptedModel.final({"data": "summed", "summary": "sum", "confidence": 1})
    item = int(task.split("#")[1].split()[0])
    if not tools:
        return ScriptedModel.call("work", item=item)
    return ScriptedModel.final({"data": tools[0], "summary": f"did {item}", "confidence": 0.9})


SPEC = WorkflowSpec.model_validate({
    "name": "crashy",
    "steps": [
        {"id": "list", "agent": "lister", "task": "list"},
        {"id": "each", "agent": "worker", "task": "item #{{ item }}", "for_each": "steps.list.output",
         "needs": ["list"]},
        {"id": "sum", "agent": "summer", "task": "sum", "needs": ["each"]},
    ],
    "output": "steps.each.output",
})  # fmt: skip


def branch_done(run: RunRecord) -> None:
    step = (run.input or {}).get("step") if isinstance(run.input, dict) else None
    if step and step.get("step") == "each" and run.status.value == "succeeded":
        print(f"DONE {step['branch']}", flush=True)


async def main() -> None:
    rt = Runtime(
        store=DB,
        agents=[Agent(name="lister"), Agent(name="worker", tools=[work]), Agent(name="summer")],
        tools=[work],
        workflows=[SPEC],
        models=ScriptedModel(respond, record=False),
        poll_interval=0.05,
        lease_ttl=60,
    )
    rt.kernel.on_run_end.append(branch_done)
    async with rt:
        if SUBMIT:
            await rt.submit_workflow("crashy")
        (wf,) = await rt.store.list_runs(RunFilter(rt.workspace, top_level_only=True))
        done = await rt.wait(wf.id, timeout=120)
        print(f"ALLDONE {done.status.value} {json.dumps(done.output)}", flush=True)


asyncio.run(main())
