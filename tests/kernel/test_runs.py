"""Run lifecycle and the agent loop, through the public API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from stores import store_for

from orgos import Agent, RunStatus, Runtime, tool
from orgos.errors import NotFound, RunFailed
from orgos.llm.base import ModelError, ModelRequest, ModelResponse, ToolCall
from orgos.testing.scripted import ScriptedModel

calls: list[tuple[int, int]] = []


@tool(idempotent=True)
async def add(a: int, b: int) -> int:
    """Add two integers."""
    calls.append((a, b))
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"exploded: {reason}")


@tool(timeout=0.2, idempotent=True)
async def hang() -> str:
    """Never returns."""
    await asyncio.Event().wait()
    return "unreachable"


def rt(tmp_path: Path, model: Any, *agents: Agent, **kw: Any) -> Runtime:
    return Runtime(
        store=store_for(tmp_path),
        agents=agents or [Agent(name="calc", tools=[add, explode, hang])],
        tools=[add, explode, hang],
        models=model,
        **kw,
    )


def tool_messages(req: ModelRequest) -> list[str]:
    return [m.content for m in req.messages if m.role == "tool"]


async def test_tool_then_answer(tmp_path: Path) -> None:
    model = ScriptedModel([ScriptedModel.call("add", a=2, b=3), ScriptedModel.final("5")])
    async with rt(tmp_path, model) as r:
        rec = await r.run("calc", "what is 2+3?", timeout=10)
    assert rec.status is RunStatus.SUCCEEDED
    assert rec.output == "5"
    assert tool_messages(model.requests[1]) == ["5"]


async def test_structured_output_is_validated_and_corrected(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {"total": {"type": "integer"}},
        "required": ["total"],
    }
    model = ScriptedModel(
        [ScriptedModel.final("not json"), ScriptedModel.final({"total": "x"}),
         ScriptedModel.final({"total": 7})]
    )  # fmt: skip
    async with rt(tmp_path, model, Agent(name="calc", output=schema)) as r:
        rec = await r.run("calc", "sum", timeout=10)
    assert rec.output == {"total": 7}
    feedback = [m.content for m in model.requests[2].messages if m.role == "user"][-1]
    assert "total" in feedback and "not valid" in feedback


async def test_errors_go_back_to_the_model(tmp_path: Path) -> None:
    bad_json = ModelResponse(
        tool_calls=[ToolCall("c1", "add", {}, arguments_error="Expecting value")]
    )
    model = ScriptedModel(
        [
            ScriptedModel.call("nope", x=1),
            bad_json,
            ScriptedModel.call("add", a="two", b=1),
            ScriptedModel.call("explode", reason="test"),
            ScriptedModel.call("hang"),
            ScriptedModel.final("gave up"),
        ]
    )
    async with rt(tmp_path, model) as r:
        rec = await r.run("calc", "try things", timeout=10)
    assert rec.status is RunStatus.SUCCEEDED
    errors = tool_messages(model.requests[-1])
    assert "tool 'nope' does not exist" in errors[0] and "available tools: add" in errors[0]
    assert "not valid JSON" in errors[1]
    assert "invalid arguments for add" in errors[2] and "a:" in errors[2]
    assert "exploded: test" in errors[3]
    assert "timed out" in errors[4]


async def test_tool_outside_allowlist_is_refused(tmp_path: Path) -> None:
    model = ScriptedModel([ScriptedModel.call("explode", reason="x"), ScriptedModel.final("ok")])
    async with rt(tmp_path, model, Agent(name="calc", tools=[add])) as r:
        await r.run("calc", "x", timeout=10)
    assert "not allowed for this agent" in tool_messages(model.requests[1])[0]


async def test_step_limit_fails_the_run(tmp_path: Path) -> None:
    model = ScriptedModel(lambda req: ScriptedModel.call("add", a=1, b=1))
    async with rt(tmp_path, model, Agent(name="calc", tools=[add], max_steps=3)) as r:
        rec = await r.run("calc", "loop", timeout=10)
        with pytest.raises(RunFailed, match="step limit"):
            await r.result(rec.id, timeout=5)
    assert rec.status is RunStatus.FAILED
    assert rec.error is not None and "step limit (3)" in rec.error


async def test_tool_limits_remove_used_up_tools(tmp_path: Path) -> None:
    model = ScriptedModel(
        [ScriptedModel.call("add", a=1, b=1), ScriptedModel.call("add", a=1, b=1),
         ScriptedModel.final("done")]
    )  # fmt: skip
    agent = Agent(name="calc", tools=[add, explode], tool_limits={"add": 1})
    async with rt(tmp_path, model, agent) as r:
        await r.run("calc", "x", timeout=10)
    assert [t.name for t in model.requests[0].tools] == ["add", "explode"]
    assert [t.name for t in model.requests[1].tools] == ["explode"]
    assert "at most 1 time" in tool_messages(model.requests[2])[1]


async def test_malformed_tool_calls_do_not_use_up_tool_limits(tmp_path: Path) -> None:
    calls.clear()
    bad_json = ModelResponse(
        tool_calls=[ToolCall("c1", "add", {}, arguments_error="Expecting value")]
    )
    model = ScriptedModel(
        [bad_json, ScriptedModel.call("add", a="one", b=1), ScriptedModel.call("ghost", a=1),
         ScriptedModel.call("add", a=2, b=3), ScriptedModel.call("add", a=4, b=5),
         ScriptedModel.final("done")]
    )  # fmt: skip
    agent = Agent(name="calc", tools=[add, explode], tool_limits={"add": 1})
    async with rt(tmp_path, model, agent) as r:
        rec = await r.run("calc", "x", timeout=10)
    assert rec.status is RunStatus.SUCCEEDED, rec.error
    assert calls == [(2, 3)]  # three bad calls cost nothing; the good one ran, once
    assert "at most 1 time" in tool_messages(model.requests[5])[-1]


async def test_model_failures_retry_then_fail_clearly(tmp_path: Path) -> None:
    model = ScriptedModel(
        [ModelError("rate limited", retryable=True, retry_after=0.0), ScriptedModel.final("ok"),
         ModelError("bad request: context too long")]
    )  # fmt: skip
    async with rt(tmp_path, model, retry_backoff=0.001) as r:
        ok = await r.run("calc", "x", timeout=10)
        bad = await r.run("calc", "y", timeout=10)
    assert ok.status is RunStatus.SUCCEEDED
    assert bad.status is RunStatus.FAILED
    assert bad.error is not None and "context too long" in bad.error


async def test_unknown_agent_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    async with rt(tmp_path, ScriptedModel([])) as r:
        with pytest.raises(NotFound, match="no agent named 'ghost'"):
            await r.submit("ghost", "x")
        assert await r.history.runs() == []


async def test_tokens_stream_to_watchers_and_only_the_response_is_journaled(tmp_path: Path) -> None:
    model = ScriptedModel([ScriptedModel.final("hello streaming world")], chunks=3)
    async with rt(tmp_path, model) as r:
        rec = await r.submit("calc", "say hi")
        q = r.kernel.events.subscribe(rec.root_id)  # before the run's task first runs
        tokens: list[str] = []
        async with asyncio.timeout(10):
            while True:
                ev = await q.get()
                if ev.type == "token":
                    tokens.append(ev.data["text"])
                if ev.type == "status":
                    break
        journal = await r.history.journal(rec.id)
    assert "".join(tokens) == "hello streaming world"
    assert len(tokens) > 1
    llm_results = [e for e in journal if e.kind == "llm" and e.phase == "result"]
    assert len(llm_results) == 1
    assert llm_results[0].payload["ok"]["content"] == "hello streaming world"


async def test_usage_is_recorded_per_call(tmp_path: Path) -> None:
    from orgos.llm.base import Usage

    resp = ScriptedModel.final("ok")
    resp.usage = Usage(11, 3)
    async with rt(tmp_path, ScriptedModel([resp])) as r:
        rec = await r.run("calc", "x", timeout=10)
        journal = await r.history.journal(rec.id)
    result = next(e for e in journal if e.kind == "llm" and e.phase == "result")
    assert result.payload["ok"]["usage"] == {"input_tokens": 11, "output_tokens": 3}


async def test_editing_an_agent_does_not_change_runs_in_flight(tmp_path: Path) -> None:
    release = asyncio.Event()
    seen: list[str] = []
    first_call = asyncio.Event()

    async def respond(req: ModelRequest) -> ModelResponse:
        seen.append(req.messages[0].content)
        first_call.set()
        await release.wait()
        return ScriptedModel.final("ok")

    model = ScriptedModel(respond)
    v1 = Agent(name="calc", instructions="Version one.")
    v2 = Agent(name="calc", instructions="Version two.")
    async with rt(tmp_path, model, v1) as r:
        old = await r.submit("calc", "x")
        await asyncio.wait_for(first_call.wait(), 5)
        assert old.target_version == 1
        assert await r.registry.register(r.workspace, v2) == 2
        new = await r.submit("calc", "y")
        release.set()
        await r.wait(old.id, timeout=5)
        await r.wait(new.id, timeout=5)
    assert new.target_version == 2
    assert "Version one." in seen[0]
    assert "Version two." in seen[1]


async def test_cancel_a_running_run(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def respond(req: ModelRequest) -> ModelResponse:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError

    async with rt(tmp_path, ScriptedModel(respond)) as r:
        rec = await r.submit("calc", "x")
        await asyncio.wait_for(started.wait(), 5)
        assert await r.control.cancel(rec.id) == [rec.id]
        done = await r.wait(rec.id, timeout=5)
    assert done.status is RunStatus.CANCELLED


async def test_a_slow_call_shows_in_the_journal_while_in_flight(tmp_path: Path) -> None:
    """A repeatable call's intent is written with its result when that comes
    soon; a slow call's intent is written on its own after ``defer_delay``,
    so another process (``orgos show``) sees the call in flight."""
    called, release = asyncio.Event(), asyncio.Event()

    async def slow(req: ModelRequest) -> ModelResponse:
        called.set()
        await release.wait()
        return ScriptedModel.final("done")

    async with rt(tmp_path, ScriptedModel(slow)) as r:
        r.kernel.journal.defer_delay = 0.05
        rec = await r.submit("calc", "wait for it")
        async with asyncio.timeout(10):
            await called.wait()
            while True:  # the intent is written within two ticks
                journal = await r.store.load_journal(rec.id)
                if [e for e in journal if e.kind == "llm"]:
                    break
                await asyncio.sleep(0.01)
        assert [(e.phase, e.kind) for e in journal if e.kind == "llm"] == [("intent", "llm")]
        release.set()
        done = await r.wait(rec.id, timeout=10)
        journal = await r.store.load_journal(rec.id)
    assert done.status is RunStatus.SUCCEEDED
    assert [e.phase for e in journal if e.kind == "llm"] == ["intent", "result"]
