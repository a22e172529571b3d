"""The whole path over real HTTP: agent loop -> kernel -> OpenAI and Anthropic
adapters -> a fake model server on loopback. Only the model is fake."""

from __future__ import annotations

from pathlib import Path

import pytest
from stores import store_for

from orgos import Agent, RunStatus, Runtime, tool
from orgos.llm.anthropic import AnthropicModel
from orgos.llm.openai_compat import OpenAICompatModel
from orgos.testing import ScriptedModel
from orgos.testing.fake_openai import FakeOpenAIServer

SECRET = "sk-test-do-not-leak-1234567890"


@tool(idempotent=True)
def lookup_order(order_id: str) -> dict[str, object]:
    """Find an order."""
    return {"order_id": order_id, "item": "kettle", "price": 39.0}


def script() -> list[object]:
    return [
        ScriptedModel.call("lookup_order", order_id="A-1001"),
        ScriptedModel.final("refundable"),
    ]


async def test_openai_compatible_endpoint_with_retries(tmp_path: Path) -> None:
    async with FakeOpenAIServer(script()) as server:
        server.fail_next(429, times=2, retry_after=0.01)
        model = OpenAICompatModel("fake-model", base_url=server.base_url, api_key=SECRET)
        agent = Agent(name="clerk", tools=[lookup_order])
        async with Runtime(
            store=store_for(tmp_path), agents=[agent], tools=[lookup_order], models=model,
            retry_backoff=0.001,
        ) as rt:  # fmt: skip
            rec = await rt.run("clerk", "Can A-1001 be refunded?", timeout=30)
            journal = await rt.history.journal(rec.id)
    assert rec.status is RunStatus.SUCCEEDED
    assert rec.output == "refundable"
    assert len(server.requests) == 4  # two rate-limited, then two answered
    tool_result = next(e for e in journal if e.kind == "tool" and e.phase == "result")
    assert tool_result.payload["ok"]["item"] == "kettle"
    usage = [e.payload["ok"]["usage"] for e in journal if e.kind == "llm" and e.phase == "result"]
    assert all(u["input_tokens"] > 0 for u in usage)


async def test_anthropic_endpoint(tmp_path: Path) -> None:
    async with FakeOpenAIServer(script()) as server:
        model = AnthropicModel("claude-test", base_url=server.anthropic_base_url, api_key=SECRET)
        agent = Agent(name="clerk", tools=[lookup_order])
        async with Runtime(
            store=store_for(tmp_path), agents=[agent], tools=[lookup_order], models=model
        ) as rt:
            rec = await rt.run("clerk", "Can A-1001 be refunded?", timeout=30)
    assert rec.status is RunStatus.SUCCEEDED and rec.output == "refundable"


@pytest.mark.sqlite_file
async def test_server_errors_fail_the_run_clearly_without_the_key(tmp_path: Path) -> None:
    async with FakeOpenAIServer([]) as server:
        server.fail_next(401, times=10, message=f"invalid key {SECRET}")
        model = OpenAICompatModel("fake-model", base_url=server.base_url, api_key=SECRET)
        async with Runtime(
            store=store_for(tmp_path), agents=[Agent(name="clerk")], models=model
        ) as rt:
            rec = await rt.run("clerk", "hello", timeout=30)
            journal = await rt.history.journal(rec.id)
    assert rec.status is RunStatus.FAILED
    assert rec.error is not None and "401" in rec.error
    assert SECRET not in rec.error
    assert all(SECRET not in str(e.payload) for e in journal)
    assert SECRET not in (tmp_path / "o.db").read_bytes().decode("latin-1")
