"""ScriptedModel: the stand-in model for tests and benchmarks."""

from __future__ import annotations

import asyncio
import json

import pytest

from orgos.llm import Message, Model, ModelError, ModelRequest, ModelResponse, Usage
from orgos.testing import ScriptedModel, ScriptExhausted

pytestmark = pytest.mark.timeout(30)


def ask(text: str = "hello there") -> ModelRequest:
    return ModelRequest([Message("user", text)])


def test_is_a_model() -> None:
    assert isinstance(ScriptedModel(), Model)
    assert ScriptedModel(name="bench").name == "bench"


async def test_answers_in_order_and_records_requests() -> None:
    model = ScriptedModel(
        [ScriptedModel.call("search", q="cats"), "plain text", ScriptedModel.final({"n": 1})]
    )
    first, second, third = ask("a"), ask("b"), ask("c")
    r1 = await model.complete(first)
    assert r1.tool_calls[0].name == "search" and r1.tool_calls[0].arguments == {"q": "cats"}
    assert r1.finish_reason == "tool_calls"
    assert (await model.complete(second)).content == "plain text"
    assert json.loads((await model.complete(third)).content) == {"n": 1}
    assert model.requests == [first, second, third]
    assert model.requests[0] is first  # recorded, not copied
    assert model.remaining == 0 and model.call_count == 3


async def test_exhausted_script_is_a_clear_error() -> None:
    model = ScriptedModel(["only one"])
    await model.complete(ask())
    with pytest.raises(ScriptExhausted, match="ran out") as info:
        await model.complete(ask())
    assert isinstance(info.value, ModelError) and not info.value.retryable


async def test_responder_after_the_script() -> None:
    model = ScriptedModel(
        ["scripted"], responder=lambda r: ScriptedModel.final(r.messages[-1].content.upper())
    )
    assert (await model.complete(ask("x"))).content == "scripted"
    assert (await model.complete(ask("shout"))).content == "SHOUT"


async def test_async_responder() -> None:
    async def respond(request: ModelRequest) -> ModelResponse:
        await asyncio.sleep(0)
        return ScriptedModel.final(len(request.messages))

    model = ScriptedModel(respond)
    assert (await model.complete(ask())).content == "1"


async def test_exceptions_in_the_script_are_raised() -> None:
    model = ScriptedModel([ModelError("rate limited", retryable=True), "ok"])
    with pytest.raises(ModelError, match="rate limited"):
        await model.complete(ask())
    assert (await model.complete(ask())).content == "ok"


async def test_streams_content_in_a_few_chunks() -> None:
    model = ScriptedModel(["abcdefghij", ScriptedModel.call("t")], chunks=3)
    tokens: list[str] = []
    await model.complete(ask(), tokens.append)
    assert tokens == ["abcd", "efgh", "ij"]
    seen: list[str] = []

    async def sink(t: str) -> None:
        seen.append(t)

    await model.complete(ask(), sink)
    assert seen == []  # a tool call has no text


async def test_usage_is_estimated_unless_given() -> None:
    model = ScriptedModel(["x" * 40, ModelResponse(content="y", usage=Usage(7, 8), model="m")])
    estimated = await model.complete(ask("z" * 80))
    assert estimated.usage.input_tokens >= 20 and estimated.usage.output_tokens >= 10
    assert estimated.model == "scripted"
    given = ModelResponse(content="y", usage=Usage(7, 8), model="m")
    model.add(given)
    await model.complete(ask())
    assert await model.complete(ask()) is given  # nothing to fill in: returned as is


async def test_record_false_keeps_nothing() -> None:
    model = ScriptedModel(lambda r: ScriptedModel.final("ok"), record=False)
    for _ in range(3):
        await model.complete(ask())
    assert model.requests == [] and model.call_count == 3


async def test_latency_is_simulated_concurrently() -> None:
    model = ScriptedModel(lambda r: ScriptedModel.final("ok"), latency=0.1, record=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(model.complete(ask()) for _ in range(20)))
    elapsed = loop.time() - started
    assert 0.1 <= elapsed < 1.0


def test_helpers() -> None:
    pair = ScriptedModel.calls(("a", {"x": 1}), ("b", {}))
    assert [c.name for c in pair.tool_calls] == ["a", "b"]
    assert len({c.id for c in pair.tool_calls}) == 2
    assert ScriptedModel.final("text").content == "text"
    assert ScriptedModel.final([1, 2]).content == "[1, 2]"
    with pytest.raises(TypeError):
        ScriptedModel(
            lambda r: ScriptedModel.final(""), responder=lambda r: ScriptedModel.final("")
        )
