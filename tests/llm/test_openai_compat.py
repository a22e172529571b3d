"""The OpenAI adapter against a real HTTP server speaking the OpenAI API."""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import AsyncIterator

import pytest

from orgos.llm import (
    Message,
    ModelError,
    ModelRequest,
    ModelResponse,
    OpenAICompatModel,
    RetriesExhausted,
    ToolCall,
    ToolDef,
    Usage,
    complete_with_retry,
)
from orgos.testing import FakeOpenAIServer, RawToolCall, ScriptedModel

pytestmark = pytest.mark.timeout(30)

KEY = "sk-test-0123456789abcdefSECRET"
LOOKUP = ToolDef(
    "lookup_order",
    "Look up an order.",
    {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)


def ask(text: str = "hi", **kw: object) -> ModelRequest:
    return ModelRequest([Message("user", text)], **kw)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as s:
        yield s


@pytest.fixture
async def model(server: FakeOpenAIServer) -> AsyncIterator[OpenAICompatModel]:
    m = OpenAICompatModel("gpt-test", base_url=server.base_url, api_key=KEY, timeout=10)
    yield m
    await m.aclose()


async def test_text_streams_tokens_in_order(
    server: FakeOpenAIServer, model: OpenAICompatModel
) -> None:
    server.add("The quick brown fox jumps.")
    tokens: list[str] = []
    r = await model.complete(ask(), tokens.append)
    assert r.content == "The quick brown fox jumps."
    assert tokens == ["The", " quick", " brown", " fox", " jumps."]
    assert r.finish_reason == "stop" and r.tool_calls == []
    assert r.model == "fake-model"


async def test_async_token_sink_is_awaited(
    server: FakeOpenAIServer, model: OpenAICompatModel
) -> None:
    server.add("one two")
    seen: list[str] = []

    async def sink(t: str) -> None:
        seen.append(t)

    await model.complete(ask(), sink)
    assert "".join(seen) == "one two"


async def test_usage_is_recorded(server: FakeOpenAIServer, model: OpenAICompatModel) -> None:
    server.add(ModelResponse(content="ok", usage=Usage(123, 45)))
    r = await model.complete(ask())
    assert r.usage == Usage(123, 45)


async def test_tool_calls_are_assembled(server: FakeOpenAIServer, model: OpenAICompatModel) -> None:
    server.add(
        ScriptedModel.calls(("lookup_order", {"order_id": "A1"}), ("refund", {"amount": 2.5}))
    )
    r = await model.complete(ask(tools=[LOOKUP]))
    assert [(c.name, c.arguments, c.arguments_error) for c in r.tool_calls] == [
        ("lookup_order", {"order_id": "A1"}, None),
        ("refund", {"amount": 2.5}, None),
    ]
    assert all(c.id.startswith("call_") for c in r.tool_calls)
    assert r.finish_reason == "tool_calls"


async def test_invalid_arguments_become_arguments_error(
    server: FakeOpenAIServer, model: OpenAICompatModel
) -> None:
    server.add(
        ModelResponse(tool_calls=[RawToolCall("c1", "lookup_order", {}, None, '{"order_id": ')]),
        ModelResponse(tool_calls=[RawToolCall("c2", "lookup_order", {}, None, "[1, 2]")]),
        ModelResponse(tool_calls=[RawToolCall("c3", "lookup_order", {}, None, "")]),
    )
    bad = (await model.complete(ask())).tool_calls[0]
    assert bad.arguments == {} and bad.arguments_error and "not valid JSON" in bad.arguments_error
    not_object = (await model.complete(ask())).tool_calls[0]
    assert not_object.arguments_error == "arguments must be a JSON object"
    empty = (await model.complete(ask())).tool_calls[0]
    assert empty.arguments == {} and empty.arguments_error is None


async def test_request_mapping(server: FakeOpenAIServer, model: OpenAICompatModel) -> None:
    server.add("done")
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    request = ModelRequest(
        [
            Message("system", "be brief"),
            Message("user", "check A1"),
            Message("assistant", "", [ToolCall("c1", "lookup_order", {"order_id": "A1"})]),
            Message("tool", '{"status": "shipped"}', tool_call_id="c1", name="lookup_order"),
        ],
        tools=[LOOKUP],
        output_schema=schema,
        temperature=0.0,
        max_tokens=50,
    )
    await model.complete(request)
    sent = server.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.body
    assert body["model"] == "gpt-test" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.0 and body["max_tokens"] == 50
    assert body["messages"][2]["tool_calls"][0]["function"] == {
        "name": "lookup_order",
        "arguments": '{"order_id": "A1"}',
    }
    assert body["messages"][3] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": '{"status": "shipped"}',
    }
    assert body["tools"][0]["function"]["name"] == "lookup_order"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert body["response_format"]["json_schema"]["strict"] is False


async def test_without_json_schema_support_the_schema_goes_in_the_prompt(
    server: FakeOpenAIServer,
) -> None:
    server.add("{}")
    m = OpenAICompatModel("x", base_url=server.base_url, supports_json_schema=False)
    await m.complete(ask(output_schema={"type": "object"}))
    body = server.requests[-1].body
    assert "response_format" not in body
    assert body["messages"][-1]["role"] == "system"
    assert '{"type": "object"}' in body["messages"][-1]["content"]
    await m.aclose()


async def test_rate_limit_is_retryable_with_hint(
    server: FakeOpenAIServer, model: OpenAICompatModel
) -> None:
    server.fail_next(429, retry_after=0.25)
    with pytest.raises(ModelError) as info:
        await model.complete(ask())
    assert info.value.retryable and info.value.retry_after == pytest.approx(0.25)
    assert "429" in str(info.value)


async def test_429_then_success_is_retried(
    server: FakeOpenAIServer, model: OpenAICompatModel
) -> None:
    server.fail_next(429, retry_after=0.01, times=2)
    server.add("finally")
    r = await complete_with_retry(
        model, ask(), timeout=5, backoff=0.001, max_backoff=0.05, rng=random.Random(1)
    )
    assert r.content == "finally"
    assert len(server.requests) == 3


async def test_500_is_retryable(server: FakeOpenAIServer, model: OpenAICompatModel) -> None:
    server.fail_next(500)
    server.add("ok")
    with pytest.raises(ModelError) as info:
        await model.complete(ask())
    assert info.value.retryable
    assert (await complete_with_retry(model, ask(), timeout=5, backoff=0.001)).content == "ok"


async def test_400_is_not_retried(server: FakeOpenAIServer, model: OpenAICompatModel) -> None:
    server.fail_next(400, message="bad request: messages missing")
    with pytest.raises(ModelError) as info:
        await complete_with_retry(model, ask(), timeout=5, backoff=0.001)
    assert not info.value.retryable
    assert not isinstance(info.value, RetriesExhausted)
    assert "messages missing" in str(info.value)
    assert len(server.requests) == 1


async def test_hanging_server_times_out_within_bound(
    server: FakeOpenAIServer, model: OpenAICompatModel
) -> None:
    server.hang_next(times=2)
    started = time.monotonic()
    with pytest.raises(RetriesExhausted) as info:
        await complete_with_retry(model, ask(), timeout=0.3, max_retries=1, backoff=0.001)
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 3
    assert info.value.attempts == 2 and "2 attempts" in str(info.value)
    assert "did not answer within 0.3s" in str(info.value)


async def test_stall_mid_stream_times_out(
    server: FakeOpenAIServer, model: OpenAICompatModel
) -> None:
    server.hang_next(mid_stream=True)
    server.add("never finished", "second try")
    r = await complete_with_retry(model, ask(), timeout=0.3, max_retries=1, backoff=0.001)
    assert r.content == "second try"


async def test_dropped_connection_is_retryable(
    server: FakeOpenAIServer, model: OpenAICompatModel
) -> None:
    server.drop_next()
    server.add("lost words here")
    with pytest.raises(ModelError) as info:
        await model.complete(ask())
    assert info.value.retryable


async def test_unreachable_server_is_retryable() -> None:
    with FakeOpenAIServer() as s:
        url = s.base_url
    m = OpenAICompatModel("x", base_url=url, api_key=KEY, timeout=5)
    with pytest.raises(ModelError) as info:
        await m.complete(ask())
    assert info.value.retryable
    await m.aclose()


async def test_api_key_never_appears_in_errors(
    server: FakeOpenAIServer, model: OpenAICompatModel
) -> None:
    server.fail_next(401, message=f"Incorrect API key provided: {KEY}")
    with pytest.raises(ModelError) as info:
        await model.complete(ask())
    text = "".join(traceback.format_exception(info.value)) + repr(info.value)
    assert KEY not in text and KEY[:8] not in text
    assert "401" in text and not info.value.retryable
    assert KEY not in repr(model)
