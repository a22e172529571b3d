"""The wire formats FakeOpenAIServer speaks: OpenAI chat completions (JSON and
SSE chunks) and Anthropic messages (JSON and stream events)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from orgos.llm.base import ModelResponse, ToolCall

WORDS = re.compile(r"\s*\S+|\s+")

ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass(slots=True)
class RawToolCall(ToolCall):
    """A tool call whose arguments are sent as this exact text (which need not
    be valid JSON): for testing how clients handle malformed arguments."""

    raw_arguments: str = ""


def error(api: str, status: int, message: str, retry_after: float | None) -> Response:
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else None
    if api == "openai":
        kind = "rate_limit_exceeded" if status == 429 else "fake_error"
        body: dict[str, Any] = {"error": {"message": message, "type": kind, "code": None}}
    else:
        kind = ANTHROPIC_ERRORS.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _raw_arguments(call: ToolCall) -> str:
    if isinstance(call, RawToolCall):
        return call.raw_arguments
    return json.dumps(call.arguments)


def _pieces(text: str, n: int = 3) -> list[str]:
    step = max(1, -(-len(text) // n))
    return [text[i : i + step] for i in range(0, len(text), step)]


def usage(body: dict[str, Any], answer: ModelResponse) -> tuple[int, int]:
    if answer.usage.input_tokens or answer.usage.output_tokens:
        return answer.usage.input_tokens, answer.usage.output_tokens
    prompt = len(json.dumps(body.get("messages", []))) + len(str(body.get("system", "")))
    out = len(answer.content) + sum(len(_raw_arguments(c)) for c in answer.tool_calls)
    return prompt // 4 + 1, out // 4 + 1


def _openai_finish(answer: ModelResponse) -> str:
    if answer.tool_calls and answer.finish_reason == "stop":
        return "tool_calls"
    return answer.finish_reason


def openai_completion(answer: ModelResponse, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content or None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": _raw_arguments(c)},
            }
            for c in answer.tool_calls
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model or model,
        "choices": [{"index": 0, "message": message, "finish_reason": _openai_finish(answer)}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        },
    }


def openai_chunks(
    answer: ModelResponse, model: str, usage: tuple[int, int] | None
) -> list[dict[str, Any]]:
    created = int(time.time())
    name = answer.model or model

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created}
        return base | {"model": name, "choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": word}) for word in WORDS.findall(answer.content)]
    for i, c in enumerate(answer.tool_calls):
        head = {"index": i, "id": c.id, "type": "function"}
        head["function"] = {"name": c.name, "arguments": ""}
        chunks.append(chunk({"tool_calls": [head]}))
        for piece in _pieces(_raw_arguments(c)):
            chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    chunks.append(chunk({}, _openai_finish(answer)))
    if usage is not None:
        total = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
        total["total_tokens"] = usage[0] + usage[1]
        chunks.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": name,
                "choices": [],
                "usage": total,
            }
        )
    return chunks


def _anthropic_stop(answer: ModelResponse) -> str:
    if answer.tool_calls:
        return "tool_use"
    return {"length": "max_tokens"}.get(answer.finish_reason, "end_turn")


def _anthropic_content(answer: ModelResponse) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.content:
        blocks.append({"type": "text", "text": answer.content})
    for c in answer.tool_calls:
        blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
    return blocks


def anthropic_message(answer: ModelResponse, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": answer.model or model,
        "content": _anthropic_content(answer),
        "stop_reason": _anthropic_stop(answer),
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def anthropic_events(
    answer: ModelResponse, model: str, usage: tuple[int, int]
) -> list[dict[str, Any]]:
    start = anthropic_message(answer, model, (usage[0], 1))
    start |= {"content": [], "stop_reason": None}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    index = 0
    if answer.content:
        block: dict[str, Any] = {"type": "text", "text": ""}
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        for word in WORDS.findall(answer.content):
            delta: dict[str, Any] = {"type": "text_delta", "text": word}
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    for c in answer.tool_calls:
        block = {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        for piece in _pieces(_raw_arguments(c)):
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    delta = {"stop_reason": _anthropic_stop(answer), "stop_sequence": None}
    events.append({"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage[1]}})
    events.append({"type": "message_stop"})
    return events
