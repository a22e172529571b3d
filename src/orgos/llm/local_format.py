"""How a request becomes a prompt and a grammar for the embedded model, and how
its constrained JSON becomes a response. Pure functions, testable without
the model.

A 135M model will not call tools free-form, and offered a choice between a
``{"tool": ...}`` and a ``{"final": ...}`` object it nearly always answers at
once. Picking a *name* from a list works much better, so the final answer is
offered as one more tool (``final_answer``) and every reply has the form
``{"tool": NAME, "arguments": {...}}``, enforced by a grammar built from the
JSON Schema ``anyOf`` of all choices. After ``tool_rounds`` tool calls since
the user last spoke, tools are withdrawn: the model must answer (with the
final answer as the only choice, or in JSON valid against the output schema),
which keeps it from looping. Free text is for a conversation with no tool
call in it: a small model that has seen its own replies as tool-call JSON
writes more of it when left free, and that is no answer.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from orgos.llm.base import Message, ModelError, ModelRequest, ToolCall, ToolDef

FINAL_TOOL = "final_answer"
_TOOL_NAME = re.compile(r'\s*\{\s*"tool"\s*:\s*"([^"]+)"')


@dataclass(slots=True)
class Plan:
    mode: Literal["tools", "schema", "text"]
    messages: list[dict[str, str]]
    #: The JSON Schema the grammar enforces (None in text mode).
    schema: dict[str, Any] | None
    final_tool: str
    #: The whitespace-free JSON that precedes the answer's text, when the
    #: answer is a plain string that can be streamed as it is generated.
    stream_prefix: str | None


def plan(
    request: ModelRequest, *, tool_rounds: int | None = None, max_string: int | None = 120
) -> Plan:
    """``tool_rounds`` caps tool calls since the user spoke (None: no cap; the
    agent's own limits apply). ``max_string`` bounds free-form strings, which a
    small model otherwise repeats until it runs out of tokens."""
    names = {t.name for t in request.tools}
    final_tool = FINAL_TOOL
    while final_tool in names:
        final_tool += "_"
    capped = tool_rounds is not None and _rounds(request.messages) >= tool_rounds
    tools = [] if capped else request.tools
    allow_final = request.tool_choice != "required"
    out = request.output_schema
    # Tools withdrawn (capped, or the agent's tool_limits used up) after the
    # model called some: its earlier replies read {"tool": ..., "arguments": ...},
    # and in free text a small model writes one more of those as its "answer".
    # It is offered the final answer alone instead: its reply is the answer.
    answer_only = not tools and out is None and allow_final and _called_tools(request.messages)
    if tools or answer_only:
        mode: Literal["tools", "schema", "text"] = "tools"
        schema = tools_schema(tools, final_tool, out, allow_final=allow_final)
        prefix = (
            f'{{"tool":"{final_tool}","arguments":{{"answer":"'
            if out is None and allow_final
            else None
        )
    elif out is not None:
        mode, schema, prefix = "schema", out, None
    else:
        mode, schema, prefix = "text", None, ""
    system = [m.content for m in request.messages if m.role == "system" and m.content]
    if schema is not None and max_string:
        schema = cap_strings(schema, max_string)
    if mode == "tools":
        system.append(_tools_prompt(tools, final_tool if allow_final else None, out))
    elif out is not None:
        system.append("Reply with only a JSON document valid against this JSON Schema: " + _j(out))
    messages = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    messages += [_chat_message(m) for m in request.messages if m.role != "system"]
    return Plan(mode, messages, schema, final_tool, prefix)


def _called_tools(messages: list[Message]) -> bool:
    return any(m.role == "assistant" and m.tool_calls for m in messages)


def _rounds(messages: list[Message]) -> int:
    """Tool-calling turns since the last user message."""
    n = 0
    for m in reversed(messages):
        if m.role == "user":
            break
        if m.role == "assistant" and m.tool_calls:
            n += 1
    return n


def cap_strings(node: Any, limit: int) -> Any:
    """A copy of a schema whose unbounded strings get ``maxLength: limit``."""
    if isinstance(node, dict):
        out = {k: cap_strings(v, limit) for k, v in node.items()}
        bounded = ("enum", "const", "pattern", "maxLength", "format")
        if out.get("type") == "string" and not any(k in out for k in bounded):
            out["maxLength"] = limit
        return out
    if isinstance(node, list):
        return [cap_strings(v, limit) for v in node]
    return node


def tools_schema(
    tools: list[ToolDef],
    final_tool: str,
    output_schema: dict[str, Any] | None,
    *,
    allow_final: bool = True,
) -> dict[str, Any]:
    """``anyOf`` over ``{"tool": NAME, "arguments": PARAMS}`` for every tool and,
    unless a tool call is required, the final answer; ``$defs`` are hoisted to
    the root, where refs resolve."""
    defs: dict[str, Any] = {}
    options = [_call(t.name, _hoist(_params(t), f"t{i}", defs)) for i, t in enumerate(tools)]
    answer = output_schema if output_schema is not None else {"type": "string"}
    if allow_final:
        options.append(_call(final_tool, _closed({"answer": _hoist(answer, "out", defs)})))
    schema: dict[str, Any] = {"anyOf": options}
    if defs:
        schema["$defs"] = defs
    return schema


def _closed(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props)}


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return _closed({"tool": {"const": name}, "arguments": arguments})


def _params(tool: ToolDef) -> dict[str, Any]:
    p = tool.parameters or {}
    if not any(k in p for k in ("properties", "$ref", "anyOf", "oneOf", "allOf")):
        return {"type": "object", "properties": {}}
    return p


def _hoist(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    local = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    if not local:
        return schema
    renames = {
        f"#/{kind}/{k}": f"#/$defs/{prefix}_{k}"
        for kind in ("definitions", "$defs")
        for k in schema.get(kind, {})
    }

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (renames.get(v, v) if k == "$ref" else fix(v))
                for k, v in node.items()
                if k not in ("$defs", "definitions")
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    for k, v in local.items():
        defs[f"{prefix}_{k}"] = fix(v)
    fixed: dict[str, Any] = fix(schema)
    return fixed


def _j(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _tools_prompt(tools: list[ToolDef], final_tool: str | None, out: dict[str, Any] | None) -> str:
    lines = ["You can call these tools:"]
    for t in tools:
        props = _params(t).get("properties", {})
        args = ", ".join(f"{k}: {v.get('type', 'any')}" for k, v in props.items())
        lines.append(f"- {t.name}({args}): {t.description}")
    kind = "string" if out is None else out.get("type", "object")
    # The wording matters to a 135M model: this one was measured to pick well.
    if final_tool is not None:
        lines.append(
            f"- {final_tool}(answer: {kind}): Give the final answer to the user, once you have it."
        )
    if out is not None:
        lines.append("The answer must match this JSON Schema: " + _j(out))
    lines.append('Reply with one JSON object: {"tool": "<tool name>", "arguments": {...}}.')
    return "\n".join(lines)


def _chat_message(m: Message) -> dict[str, str]:
    if m.role == "tool":
        return {"role": "user", "content": f"Result of {m.name or 'the tool'}: {m.content}"}
    if m.role == "assistant" and m.tool_calls:
        c = m.tool_calls[0]
        return {
            "role": "assistant",
            "content": json.dumps({"tool": c.name, "arguments": c.arguments}),
        }
    return {"role": m.role, "content": m.content}


class AnswerStreamer:
    """Extracts the answer's text from the generated JSON as it arrives.

    ``prefix`` is the whitespace-free JSON before the answer string ("" for
    free text, None to stream nothing). Emits nothing for a tool call.
    """

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix
        self.state = "off" if prefix is None else ("head" if prefix else "raw")
        self._pos = 0
        self._pending = ""
        self.text: list[str] = []

    def feed(self, chunk: str) -> str:
        if self.state == "raw":
            self.text.append(chunk)
            return chunk
        if self.state in ("off", "done"):
            return ""
        i = 0
        if self.state == "head":
            assert self.prefix is not None
            while i < len(chunk) and self.state == "head":
                ch = chunk[i]
                i += 1
                if ch.isspace():
                    continue
                if ch != self.prefix[self._pos]:
                    self.state = "off"
                    return ""
                self._pos += 1
                if self._pos == len(self.prefix):
                    self.state = "string"
        out = self._decode(self._pending + chunk[i:])
        self.text.append(out)
        return out

    def _decode(self, s: str) -> str:
        out: list[str] = []
        i = 0
        self._pending = ""
        while i < len(s):
            ch = s[i]
            if ch == '"':
                self.state = "done"
                break
            if ch == "\\":
                size = 6 if s[i + 1 : i + 2] == "u" else 2
                if i + size > len(s):
                    self._pending = s[i:]  # wait for the rest of the escape
                    break
                with contextlib.suppress(json.JSONDecodeError):
                    out.append(json.loads(f'"{s[i : i + size]}"'))
                i += size
                continue
            out.append(ch)
            i += 1
        return "".join(out)


def interpret(
    p: Plan, request: ModelRequest, raw: str, finish: str, streamed: AnswerStreamer
) -> tuple[str, list[ToolCall]]:
    """The response's content and tool calls, from the generated text."""
    if p.mode == "text":
        return raw.strip(), []
    try:
        value = json.loads(raw, strict=False)
    except json.JSONDecodeError:
        if finish == "length" and streamed.state == "string":
            return "".join(streamed.text), []  # a runaway answer, cut at max_tokens
        started = _TOOL_NAME.match(raw)
        if p.mode == "tools" and started and started[1] != p.final_tool:
            # A runaway argument: let the agent loop tell the model, as for bad JSON.
            error = f"arguments cut off at max_tokens: {raw[:120]!r}"
            return "", [ToolCall(_call_id(request), started[1], {}, error)]
        hint = " (max_tokens reached)" if finish == "length" else ""
        raise ModelError(f"embedded model produced incomplete JSON{hint}: {raw[:200]!r}") from None
    if p.mode == "schema":
        return json.dumps(value), []
    name, args = value["tool"], value["arguments"]
    if name == p.final_tool:
        answer = args["answer"]
        if request.output_schema is None and isinstance(answer, str):
            return answer, []
        return json.dumps(answer), []
    return "", [ToolCall(_call_id(request), name, args)]


def _call_id(request: ModelRequest) -> str:
    """Deterministic, and unique within the conversation."""
    return f"call_{sum(len(m.tool_calls) for m in request.messages if m.role == 'assistant')}"
