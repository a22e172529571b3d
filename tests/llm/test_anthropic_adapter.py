"""The Anthropic adapter against a real HTTP server speaking the Messages API."""

from __future__ import annotations

import random
import traceback
from collections.abc import AsyncIterator

import pytest

from orgos.llm import (
    AnthropicModel,
    Message,
    ModelError,
    ModelRequest,
    ModelResponse,
    ToolCall,
    ToolDef,
    Usage,
    complete_with_retry,
)
from orgos.testing import FakeOpenAIServer, RawToolCall, ScriptedModel

pytestmark = pytest.mark.timeout(30)

KEY = "sk-ant-test-0123456789SECRET"
LOOKUP = ToolDef("lookup_order", "Look up an order.", {"type": "object", "properties": {}})


def sent_key(server: FakeOpenAIServer) -> str:
    """SDK versions send the key as x-api-key or as a bearer token."""
    headers = server.requests[-1].headers
    return headers.get("x-api-key") or headers["authorization"].removeprefix("Bearer ")


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as s:
        yield s


@pytest.fixture
async def model(server: FakeOpenAIServer) -> AsyncIterator[AnthropicModel]:
    m = AnthropicModel("claude-test", base_url=server.anthropic_base_url, api_key=KEY, timeout=10)
    yield m
    await m.aclose()


async def test_text_streams_and_counts_usage(
    server: FakeOpenAIServer, model: AnthropicModel
) -> None:
    server.add(ModelResponse(content="Hello there friend", usage=Usage(40, 3)))
    tokens: list[str] = []
    r = await model.complete(ModelRequest([Message("user", "hi")]), tokens.append)
    assert tokens == ["Hello", " there", " friend"]
    assert r.content == "Hello there friend"
    assert r.usage == Usage(40, 3)
    assert r.finish_reason == "stop"
    assert sent_key(server) == KEY


async def test_base_url_ending_in_v1_is_accepted(server: FakeOpenAIServer) -> None:
    server.add("ok")
    m = AnthropicModel("c", base_url=server.base_url, api_key=KEY)
    assert (await m.complete(ModelRequest([Message("user", "hi")]))).content == "ok"
    await m.aclose()


async def test_tool_use_blocks(server: FakeOpenAIServer, model: AnthropicModel) -> None:
    server.add(
        ModelResponse(
            content="Let me check.",
            tool_calls=[
                ToolCall("toolu_1", "lookup_order", {"order_id": "A1"}),
                RawToolCall("toolu_2", "lookup_order", {}, None, '{"order_id": "A'),
            ],
        )
    )
    r = await model.complete(ModelRequest([Message("user", "check")], tools=[LOOKUP]))
    assert r.content == "Let me check."
    assert r.finish_reason == "tool_calls"
    good, bad = r.tool_calls
    assert (good.id, good.name, good.arguments) == ("toolu_1", "lookup_order", {"order_id": "A1"})
    assert bad.arguments == {} and bad.arguments_error is not None


async def test_request_mapping(server: FakeOpenAIServer, model: AnthropicModel) -> None:
    server.add("fine")
    request = ModelRequest(
        [
            Message("system", "Be brief."),
            Message("user", "check A1 and B2"),
            Message(
                "assistant",
                "checking",
                [
                    ToolCall("t1", "lookup_order", {"id": "A1"}),
                    ToolCall("t2", "lookup_order", {"id": "B2"}),
                ],
            ),
            Message("tool", "shipped", tool_call_id="t1", name="lookup_order"),
            Message("tool", "lost", tool_call_id="t2", name="lookup_order"),
            Message("user", "and now?"),
        ],
        tools=[LOOKUP],
        output_schema={"type": "object"},
        temperature=0.5,
    )
    await model.complete(request)
    body = server.requests[-1].body
    assert body["system"].startswith("Be brief.") and '{"type": "object"}' in body["system"]
    assert body["max_tokens"] == 1024 and body["temperature"] == 0.5 and body["stream"] is True
    assert body["tools"] == [
        {
            "name": "lookup_order",
            "description": "Look up an order.",
            "input_schema": LOOKUP.parameters,
        }
    ]
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]  # turns alternate
    assistant = body["messages"][1]["content"]
    assert assistant[0] == {"type": "text", "text": "checking"}
    assert assistant[1] == {
        "type": "tool_use",
        "id": "t1",
        "name": "lookup_order",
        "input": {"id": "A1"},
    }
    results = body["messages"][2]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result", "text"]
    assert results[1] == {"type": "tool_result", "tool_use_id": "t2", "content": "lost"}


async def test_errors_map_to_model_error(server: FakeOpenAIServer, model: AnthropicModel) -> None:
    req = ModelRequest([Message("user", "hi")])
    server.fail_next(529)
    with pytest.raises(ModelError) as overloaded:
        await model.complete(req)
    assert overloaded.value.retryable
    server.fail_next(429, retry_after=0.5)
    with pytest.raises(ModelError) as limited:
        await model.complete(req)
    assert limited.value.retryable and limited.value.retry_after == pytest.approx(0.5)
    server.fail_next(400, message=f"invalid x-api-key {KEY}")
    with pytest.raises(ModelError) as bad:
        await model.complete(req)
    assert not bad.value.retryable
    text = "".join(traceback.format_exception(bad.value))
    assert KEY not in text


async def test_retried_after_overload(server: FakeOpenAIServer, model: AnthropicModel) -> None:
    server.fail_next(529, times=2)
    server.add(ScriptedModel.final("recovered"))
    r = await complete_with_retry(
        model, ModelRequest([Message("user", "hi")]), timeout=5, backoff=0.001, rng=random.Random(0)
    )
    assert r.content == "recovered" and len(server.requests) == 3
