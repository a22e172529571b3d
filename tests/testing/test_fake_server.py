"""FakeOpenAIServer: a real HTTP server, checked with a plain HTTP client and the SDKs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from orgos.llm import ModelResponse, ToolCall, Usage
from orgos.testing import FakeOpenAIServer, ScriptedModel

pytestmark = pytest.mark.timeout(30)

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def sse_data(text: str) -> list[Any]:
    out: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_sync_context_manager_and_openai_json() -> None:
    answer = ModelResponse(
        content="hi!", tool_calls=[ToolCall("c1", "f", {"a": 1})], usage=Usage(3, 4)
    )
    with FakeOpenAIServer([answer]) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        r = httpx.post(f"{server.base_url}/chat/completions", json=CHAT, timeout=5)
        assert r.status_code == 200
        body = r.json()
        message = body["choices"][0]["message"]
        assert message["content"] == "hi!"
        assert message["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a": 1}'}
        assert body["choices"][0]["finish_reason"] == "tool_calls"
        assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        assert server.requests[0].api == "openai" and server.requests[0].body == CHAT


def test_openai_sdk_non_streaming() -> None:
    with FakeOpenAIServer(["from the script"]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        done = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert done.choices[0].message.content == "from the script"
        client.close()


def test_openai_stream_format() -> None:
    with FakeOpenAIServer(["two words"]) as server:
        body = CHAT | {"stream": True, "stream_options": {"include_usage": True}}
        r = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=5)
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_data(r.text)
        assert events[-1] == "[DONE]"
        deltas = [e["choices"][0]["delta"].get("content") for e in events[:-1] if e["choices"]]
        assert "".join(d for d in deltas if d) == "two words"
        assert events[-2]["choices"] == [] and events[-2]["usage"]["total_tokens"] > 0


def test_anthropic_json_and_stream() -> None:
    with FakeOpenAIServer(["plain", ScriptedModel.call("f", x=1)]) as server:
        url = f"{server.anthropic_base_url}/v1/messages"
        body = httpx.post(url, json=MESSAGES, timeout=5).json()
        assert body["type"] == "message" and body["content"] == [{"type": "text", "text": "plain"}]
        assert body["stop_reason"] == "end_turn"
        r = httpx.post(url, json=MESSAGES | {"stream": True}, timeout=5)
        kinds = [
            line.removeprefix("event: ")
            for line in r.text.splitlines()
            if line.startswith("event: ")
        ]
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        deltas = [e for e in sse_data(r.text) if e["type"] == "content_block_delta"]
        assert json.loads("".join(d["delta"]["partial_json"] for d in deltas)) == {"x": 1}


def test_callable_script_sees_the_parsed_body() -> None:
    seen: list[dict[str, Any]] = []

    def respond(body: dict[str, Any]) -> str:
        seen.append(body)
        return f"you said {body['messages'][-1]['content']}"

    with FakeOpenAIServer(respond) as server:
        r = httpx.post(f"{server.base_url}/chat/completions", json=CHAT, timeout=5)
        assert r.json()["choices"][0]["message"]["content"] == "you said hi"
    assert seen == [CHAT]


def test_faults_apply_in_order_then_the_script() -> None:
    with FakeOpenAIServer(["ok"]) as server:
        server.fail_next(429, retry_after=0.5, times=2)
        server.fail_next(503)
        url = f"{server.base_url}/chat/completions"
        statuses = [httpx.post(url, json=CHAT, timeout=5) for _ in range(4)]
        assert [r.status_code for r in statuses] == [429, 429, 503, 200]
        assert statuses[0].headers["retry-after"] == "0.5"
        assert statuses[0].json()["error"]["message"] == "injected failure (HTTP 429)"
        ran_out = httpx.post(url, json=CHAT, timeout=5)
        assert ran_out.status_code == 400 and "ran out" in ran_out.text
        anthropic_error = httpx.post(
            f"{server.anthropic_base_url}/v1/messages", json=MESSAGES, timeout=5
        )
        assert anthropic_error.json()["error"]["type"] == "invalid_request_error"


async def test_async_context_manager_latency_and_hang() -> None:
    async with (
        FakeOpenAIServer(["slow", "never"], latency=0.1) as server,
        httpx.AsyncClient(timeout=5) as client,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()
        r = await client.post(f"{server.base_url}/chat/completions", json=CHAT)
        assert r.status_code == 200 and loop.time() - started >= 0.1
        server.hang_next()
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"{server.base_url}/chat/completions", json=CHAT, timeout=0.3)
    # leaving the block released the hanging request and stopped the server


def test_stop_is_idempotent_and_start_twice_fails() -> None:
    server = FakeOpenAIServer().start()
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{server.base_url}/chat/completions", json=CHAT, timeout=2)


def test_several_servers_at_once() -> None:
    with FakeOpenAIServer(["a"]) as one, FakeOpenAIServer(["b"]) as two:
        assert one.port != two.port
        a = httpx.post(f"{one.base_url}/chat/completions", json=CHAT, timeout=5).json()
        b = httpx.post(f"{two.base_url}/chat/completions", json=CHAT, timeout=5).json()
        assert (a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]) == (
            "a",
            "b",
        )
