"""How requests are put to the embedded model: pure functions, no model needed."""

from __future__ import annotations

import json

import pytest

from orgos.llm import Message, ModelError, ModelRequest, ToolCall, ToolDef
from orgos.llm.local_format import (
    FINAL_TOOL,
    AnswerStreamer,
    cap_strings,
    interpret,
    plan,
    tools_schema,
)

LOOKUP = ToolDef(
    "lookup_order",
    "Look up an order.",
    {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
REFUND = ToolDef(
    "refund",
    "Refund money.",
    {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["order_id", "amount"],
    },
)
SYSTEM = Message("system", "You are support.")


def test_tools_mode_offers_every_tool_and_a_final_answer() -> None:
    p = plan(ModelRequest([SYSTEM, Message("user", "check A1")], tools=[LOOKUP, REFUND]))
    assert p.mode == "tools" and p.schema is not None
    names = [o["properties"]["tool"]["const"] for o in p.schema["anyOf"]]
    assert names == ["lookup_order", "refund", FINAL_TOOL]
    assert p.schema["anyOf"][0]["properties"]["arguments"] == cap_strings(LOOKUP.parameters, 120)
    assert list(p.schema["anyOf"][0]["properties"]) == ["tool", "arguments"]  # generation order
    system = p.messages[0]["content"]
    assert p.messages[0]["role"] == "system" and system.startswith("You are support.")
    assert (
        "lookup_order(order_id: string)" in system
        and "refund(order_id: string, amount: number)" in system
    )
    assert p.messages[1] == {"role": "user", "content": "check A1"}


def test_after_a_tool_round_the_model_must_answer() -> None:
    history = [
        Message("user", "check A1"),
        Message("assistant", "", [ToolCall("call_0", "lookup_order", {"order_id": "A1"})]),
        Message("tool", "shipped", tool_call_id="call_0", name="lookup_order"),
    ]
    p = plan(ModelRequest(history, tools=[LOOKUP]), tool_rounds=1)
    assert p.mode == "tools" and p.schema is not None
    assert [o["properties"]["tool"]["const"] for o in p.schema["anyOf"]] == [FINAL_TOOL]
    assert p.messages[0]["role"] == "system" and "lookup_order(" not in p.messages[0]["content"]
    assert p.messages[2] == {
        "role": "assistant",
        "content": '{"tool": "lookup_order", "arguments": {"order_id": "A1"}}',
    }
    assert p.messages[3] == {"role": "user", "content": "Result of lookup_order: shipped"}
    assert plan(ModelRequest(history, tools=[LOOKUP]), tool_rounds=2).mode == "tools"
    again = [*history, Message("assistant", "It shipped."), Message("user", "and B2?")]
    assert plan(ModelRequest(again, tools=[LOOKUP])).mode == "tools"


def test_with_its_tools_used_up_the_model_can_only_give_its_answer_in_words() -> None:
    """The scaffolded assistant (tool_limits) on the embedded model: once its
    tools are withdrawn, its reply is the answer, never more tool-call JSON."""
    history = [
        Message("user", "How many words are in 'to be or not to be'?"),
        Message("assistant", "", [ToolCall("call_0", "word_count", {"text": "to be"})]),
        Message("tool", "2", tool_call_id="call_0", name="word_count"),
    ]
    p = plan(ModelRequest([SYSTEM, *history], tools=[]))  # the agent withdrew word_count
    assert p.mode == "tools" and p.schema is not None
    assert [o["properties"]["tool"]["const"] for o in p.schema["anyOf"]] == [FINAL_TOOL]
    raw = json.dumps({"tool": FINAL_TOOL, "arguments": {"answer": "It has 6 words."}})
    streamed = AnswerStreamer(p.stream_prefix)
    streamed.feed(raw)
    req = ModelRequest([SYSTEM, *history], tools=[])
    assert interpret(p, req, raw, "stop", streamed) == ("It has 6 words.", [])
    assert "".join(streamed.text) == "It has 6 words."
    # with no tool call yet, an agent without tools still answers in free text
    assert plan(ModelRequest([SYSTEM, history[0]], tools=[])).mode == "text"


def test_schema_mode_constrains_to_the_output_schema() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    p = plan(ModelRequest([Message("user", "capital of France?")], output_schema=schema))
    assert p.mode == "schema" and p.schema == cap_strings(schema, 120) and p.stream_prefix is None
    assert json.dumps(schema, separators=(",", ":")) in p.messages[0]["content"]


def test_final_tool_name_never_clashes() -> None:
    clash = ToolDef(FINAL_TOOL, "user tool", {"type": "object", "properties": {}})
    p = plan(ModelRequest([Message("user", "x")], tools=[clash]))
    assert p.final_tool == FINAL_TOOL + "_"


def test_defs_are_hoisted_to_the_root() -> None:
    params = {
        "type": "object",
        "properties": {"item": {"$ref": "#/$defs/Item"}},
        "required": ["item"],
        "$defs": {"Item": {"type": "object", "properties": {"sku": {"type": "string"}}}},
    }
    schema = tools_schema([ToolDef("buy", "Buy.", params)], FINAL_TOOL, None)
    args = schema["anyOf"][0]["properties"]["arguments"]
    assert "$defs" not in args
    assert args["properties"]["item"] == {"$ref": "#/$defs/t0_Item"}
    assert schema["$defs"]["t0_Item"]["properties"]["sku"] == {"type": "string"}


def test_streamer_extracts_the_answer_text_across_chunks() -> None:
    p = plan(ModelRequest([Message("user", "x")], tools=[LOOKUP]))
    s = AnswerStreamer(p.stream_prefix)
    raw = '{ "tool": "final_answer", "arguments": { "answer": "Hi \\"you\\"\\n\\u00e9!" } }'
    out = "".join(s.feed(raw[i : i + 3]) for i in range(0, len(raw), 3))
    assert out == 'Hi "you"\né!'
    assert s.state == "done"
    content, calls = interpret(p, ModelRequest([Message("user", "x")]), raw, "stop", s)
    assert content == 'Hi "you"\né!' and calls == []


def test_streamer_is_silent_for_tool_calls() -> None:
    p = plan(ModelRequest([Message("user", "x")], tools=[LOOKUP]))
    s = AnswerStreamer(p.stream_prefix)
    raw = '{"tool": "lookup_order", "arguments": {"order_id": "A1"}}'
    assert "".join(s.feed(c) for c in raw) == ""
    request = ModelRequest([Message("user", "x")], tools=[LOOKUP])
    content, calls = interpret(p, request, raw, "stop", s)
    assert content == "" and calls == [ToolCall("call_0", "lookup_order", {"order_id": "A1"})]


def test_call_ids_are_deterministic_and_unique_in_a_conversation() -> None:
    history = [
        Message("user", "x"),
        Message("assistant", "", [ToolCall("call_0", "lookup_order", {"order_id": "A1"})]),
        Message("tool", "ok", tool_call_id="call_0"),
    ]
    request = ModelRequest(history, tools=[LOOKUP])
    p = plan(request, tool_rounds=5)
    raw = '{"tool": "lookup_order", "arguments": {"order_id": "B2"}}'
    _, calls = interpret(p, request, raw, "stop", AnswerStreamer(None))
    assert calls[0].id == "call_1"


def test_truncated_output() -> None:
    request = ModelRequest([Message("user", "x")], tools=[LOOKUP])
    p = plan(request)
    runaway_answer = '{"tool": "final_answer", "arguments": {"answer": "la la la'
    s = AnswerStreamer(p.stream_prefix)
    s.feed(runaway_answer)
    assert interpret(p, request, runaway_answer, "length", s) == ("la la la", [])
    runaway_args = '{"tool": "lookup_order", "arguments": {"order_id": "1234567'
    _, calls = interpret(p, request, runaway_args, "length", AnswerStreamer(p.stream_prefix))
    assert calls[0].name == "lookup_order" and calls[0].arguments == {}
    assert calls[0].arguments_error and "max_tokens" in calls[0].arguments_error
    schema_request = ModelRequest([Message("user", "x")], output_schema={"type": "object"})
    sp = plan(schema_request)
    with pytest.raises(ModelError, match="incomplete JSON"):
        interpret(sp, schema_request, '{"a": ', "length", AnswerStreamer(None))


def test_structured_final_answer_is_json() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    request = ModelRequest([Message("user", "x")], tools=[LOOKUP], output_schema=schema)
    p = plan(request)
    assert p.stream_prefix is None
    answer = p.schema["anyOf"][-1]["properties"]["arguments"]["properties"]["answer"]  # type: ignore[index]
    assert answer == schema
    raw = '{"tool": "final_answer", "arguments": {"answer": {"ok": true}}}'
    assert interpret(p, request, raw, "stop", AnswerStreamer(None)) == ('{"ok": true}', [])


def test_required_tool_choice_leaves_out_the_final_answer() -> None:
    req = ModelRequest([SYSTEM, Message("user", "x")], tools=[LOOKUP], tool_choice="required")
    p = plan(req)
    assert p.schema is not None
    assert [o["properties"]["tool"]["const"] for o in p.schema["anyOf"]] == ["lookup_order"]
    assert FINAL_TOOL not in p.messages[0]["content"]


def test_free_strings_are_bounded_but_constrained_ones_are_kept() -> None:
    schema = {
        "type": "object",
        "properties": {
            "note": {"type": "string"},
            "id": {"type": "string", "pattern": "^A"},
            "kind": {"type": "string", "enum": ["a", "b"]},
        },
    }
    capped = cap_strings(schema, 50)
    assert capped["properties"]["note"]["maxLength"] == 50
    assert "maxLength" not in capped["properties"]["id"]
    assert "maxLength" not in capped["properties"]["kind"]
    assert schema["properties"]["note"] == {"type": "string"}  # not mutated
