"""Recovery: a second worker resumes what the first left unfinished, from
the journal, without repeating completed effects."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from stores import store_for

from orgos import Agent, RunStatus, Runtime, tool
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.store.waiting import WaitDecision
from orgos.testing.scripted import ScriptedModel

effects: list[str] = []
keys: list[str] = []
gate: dict[str, asyncio.Event] = {}
entered: dict[str, asyncio.Event] = {}


@tool(idempotent=True)
async def step(n: int) -> str:
    """An idempotent effect."""
    effects.append(f"step{n}")
    return f"did {n}"


@tool
async def charge(amount: int) -> str:
    """A non-idempotent effect without a key: never repeated blindly."""
    effects.append(f"charge{amount}")
    entered["charge"].set()
    await gate["charge"].wait()
    return f"charged {amount}"


@tool
async def refund(amount: int, idempotency_key: str) -> str:
    """A non-idempotent effect made safe by an idempotency key."""
    keys.append(idempotency_key)
    entered["refund"].set()
    await gate["refund"].wait()
    return f"refunded {amount}"


TOOLS = [step, charge, refund]


def runtime(tmp_path: Path, model: Any, drain_timeout: float = 10.0) -> Runtime:
    return Runtime(
        store=store_for(tmp_path),
        agents=[Agent(name="a", tools=TOOLS, max_steps=20)],
        tools=TOOLS,
        models=model,
        lease_ttl=30,
        drain_timeout=drain_timeout,
    )


def scripted(*calls: ModelResponse) -> Any:
    """A responder that answers by step number, so a replayed run and a fresh
    model agree on what comes next."""

    def respond(req: ModelRequest) -> ModelResponse:
        n = sum(1 for m in req.messages if m.role == "assistant")
        return calls[n] if n < len(calls) else ScriptedModel.final("done")

    return respond


async def entered_tool(name: str) -> None:
    await asyncio.wait_for(entered[name].wait(), 5)


def arm(name: str) -> None:
    gate[name] = asyncio.Event()
    entered[name] = asyncio.Event()


async def die_during(tmp_path: Path, tool_name: str, plan: Any, task: str) -> str:
    """Start a run whose worker stops while ``tool_name`` is in flight, as
    if it died (``drain_timeout=0``: it does not wait for the call to end)."""
    arm(tool_name)
    r1 = runtime(tmp_path, ScriptedModel(plan), drain_timeout=0)
    await r1.start()
    rec = await r1.submit("a", task)
    await entered_tool(tool_name)
    await r1.close()
    return rec.id


async def test_completed_steps_are_not_repeated(tmp_path: Path) -> None:
    effects.clear()
    blocked = asyncio.Event()
    plan = scripted(*(ScriptedModel.call("step", n=i) for i in range(3)))

    async def first(req: ModelRequest) -> ModelResponse:
        if sum(1 for m in req.messages if m.role == "assistant") == 3:
            blocked.set()
            await asyncio.Event().wait()  # the worker "dies" here
        return plan(req)

    r1 = runtime(tmp_path, ScriptedModel(first))
    await r1.start()
    rec = await r1.submit("a", "go")
    await asyncio.wait_for(blocked.wait(), 5)
    await r1.close()  # the run is left unfinished
    assert effects == ["step0", "step1", "step2"]

    second = ScriptedModel(plan)
    async with runtime(tmp_path, second) as r2:
        done = await r2.wait(rec.id, timeout=10)
    assert done.status is RunStatus.SUCCEEDED
    assert effects == ["step0", "step1", "step2"]  # nothing repeated
    assert second.call_count == 1  # only the step that had not completed


async def test_in_doubt_call_is_surfaced_and_decided(tmp_path: Path) -> None:
    effects.clear()
    plan = scripted(ScriptedModel.call("charge", amount=30))
    run_id = await die_during(tmp_path, "charge", plan, "charge it")

    async with runtime(tmp_path, ScriptedModel(plan)) as r2:
        parked = await r2.wait(run_id, timeout=10)
        assert parked.status is RunStatus.WAITING
        decision = parked.waiting_on
        assert isinstance(decision, WaitDecision)
        assert decision.syscall == "tool"
        assert decision.request == {"tool": "charge", "arguments": {"amount": 30}}
        assert effects == ["charge30"]  # not repeated silently

        await r2.control.decide(run_id, "done", "charged 30 (confirmed by the bank)")
        done = await r2.wait(run_id, timeout=10)
        journal = await r2.history.journal(run_id)
    assert done.status is RunStatus.SUCCEEDED
    assert effects == ["charge30"]
    results = [e.payload for e in journal if e.kind == "tool" and e.phase == "result"]
    assert results == [{"ok": "charged 30 (confirmed by the bank)"}]


async def test_in_doubt_call_retried_on_decision(tmp_path: Path) -> None:
    effects.clear()
    plan = scripted(ScriptedModel.call("charge", amount=5))
    run_id = await die_during(tmp_path, "charge", plan, "charge it")

    gate["charge"].set()
    async with runtime(tmp_path, ScriptedModel(plan)) as r2:
        assert (await r2.wait(run_id, timeout=10)).status is RunStatus.WAITING
        await r2.control.decide(run_id, "retry")
        done = await r2.wait(run_id, timeout=10)
    assert done.status is RunStatus.SUCCEEDED
    assert effects == ["charge5", "charge5"]


async def test_keyed_call_is_retried_with_the_same_key(tmp_path: Path) -> None:
    keys.clear()
    plan = scripted(ScriptedModel.call("refund", amount=9))
    run_id = await die_during(tmp_path, "refund", plan, "refund")

    gate["refund"].set()
    async with runtime(tmp_path, ScriptedModel(plan)) as r2:
        done = await r2.wait(run_id, timeout=10)
    assert done.status is RunStatus.SUCCEEDED
    assert len(keys) == 2 and keys[0] == keys[1] == f"{run_id}:2"


async def test_a_run_failed_by_a_model_outage_resumes(tmp_path: Path) -> None:
    from orgos.llm.base import ModelError

    effects.clear()
    outage = ScriptedModel(
        [ScriptedModel.call("step", n=1), ModelError("service unavailable", retryable=False)]
    )
    async with runtime(tmp_path, outage) as r:
        rec = await r.run("a", "go", timeout=10)
        assert rec.status is RunStatus.FAILED and "service unavailable" in (rec.error or "")
    back = ScriptedModel([ScriptedModel.final("done")])
    async with runtime(tmp_path, back) as r:
        assert await r.control.resume(rec.id)
        done = await r.wait(rec.id, timeout=10)
    assert done.status is RunStatus.SUCCEEDED and done.output == "done"
    assert effects == ["step1"]  # the completed tool call was not repeated


async def test_a_runtime_that_does_not_adopt_leaves_other_trees_alone(tmp_path: Path) -> None:
    effects.clear()
    plan = scripted(ScriptedModel.call("step", n=7))
    blocked = asyncio.Event()

    async def first(req: ModelRequest) -> ModelResponse:
        blocked.set()
        await asyncio.Event().wait()
        raise AssertionError

    r1 = runtime(tmp_path, ScriptedModel(first))
    await r1.start()
    orphan = await r1.submit("a", "left behind")
    await asyncio.wait_for(blocked.wait(), 5)
    await r1.close()

    model = ScriptedModel(plan)
    focused = Runtime(
        store=store_for(tmp_path), agents=[Agent(name="a", tools=TOOLS)], tools=TOOLS,
        models=model, adopt=False, poll_interval=0.02,
    )  # fmt: skip
    async with focused:
        mine = await focused.run("a", "mine", timeout=10)
        assert mine.status is RunStatus.SUCCEEDED
        assert (await focused.get_run(orphan.id)).status is RunStatus.QUEUED  # untouched
        focused.kernel.follow(orphan.id)  # asked to: now it works on that tree too
        assert (await focused.wait(orphan.id, timeout=10)).status is RunStatus.SUCCEEDED
