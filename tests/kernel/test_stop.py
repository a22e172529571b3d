"""A clean stop is not a crash: a worker that stops (Ctrl-C, `orgos run`
ending at an approval, SIGTERM) lets an unrepeatable call in flight finish
and journals its result, so nobody is asked whether it happened."""

from __future__ import annotations

import asyncio
from pathlib import Path

from stores import store_for

from orgos import Agent, Runtime, tool
from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing import ScriptedModel


def respond(req: ModelRequest) -> ModelResponse:
    if any(m.role == "tool" for m in req.messages):
        return ScriptedModel.final("paid")
    return ScriptedModel.call("pay", amount=5)


async def test_a_clean_stop_lets_an_unrepeatable_call_finish_and_journal_it(
    tmp_path: Path,
) -> None:
    paid: list[int] = []
    entered, release = asyncio.Event(), asyncio.Event()

    @tool
    async def pay(amount: int) -> str:
        """Pay once: not idempotent, no idempotency key."""
        paid.append(amount)  # the effect happened ...
        entered.set()
        await release.wait()  # ... and its answer is on the way when the stop comes
        return f"paid {amount}"

    def runtime() -> Runtime:
        return Runtime(store=store_for(tmp_path), agents=[Agent(name="cashier", tools=["pay"])],
                       tools=[pay], models=ScriptedModel(respond), poll_interval=0.05)  # fmt: skip

    rt = runtime()
    await rt.start()
    rec = await rt.submit("cashier", "pay 5")
    await asyncio.wait_for(entered.wait(), 10)
    closing = asyncio.create_task(rt.close())
    await asyncio.wait_for(rt.kernel.draining.wait(), 10)
    release.set()
    await asyncio.wait_for(closing, 20)

    async with runtime() as again:  # a restart: the call's result is in the journal
        done = await again.wait(rec.id, timeout=10)
    assert done.status.value == "succeeded", done.waiting_on
    assert paid == [5]


async def test_a_clean_stop_does_not_wait_for_repeatable_work(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def hang(req: ModelRequest) -> ModelResponse:
        started.set()
        await asyncio.Event().wait()  # a model call that never answers
        raise AssertionError

    rt = Runtime(store=store_for(tmp_path), agents=[Agent(name="a")], models=ScriptedModel(hang),
                 drain_timeout=60)  # fmt: skip
    await rt.start()
    await rt.submit("a", "hi")
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.wait_for(rt.close(), 5)  # not 60 s: a model call is safe to redo
