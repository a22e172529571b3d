"""Short-term memory: a run's conversation, compacted before it outgrows the
model's context budget.

When the conversation would exceed the budget, the turns between the task
and the most recent ones are summarized by the model (an ``llm`` syscall,
journaled like any other, so replay rebuilds the same conversation) into one
message that keeps decisions and facts. The system prompt and the task are
never dropped."""

from __future__ import annotations

import json
from collections.abc import Sequence

from orgos.kernel.context import RunContext
from orgos.llm.base import Message, ModelRequest, ToolDef

SUMMARY_PROMPT = (
    "You compact a working conversation so it can go on in less space. Write a short"
    " summary that keeps every fact, number, name, decision and open question; drop"
    " chit-chat and repetition. Write plain sentences, no preamble."
)
SUMMARY_HEADER = "Summary of the conversation so far (older turns were compacted):\n"


def message_tokens(m: Message) -> int:
    """About four characters a token, plus a little per message."""
    n = len(m.content)
    for c in m.tool_calls:
        n += len(c.name) + len(json.dumps(c.arguments))
    return n // 4 + 4


def estimate_tokens(messages: Sequence[Message], tools: Sequence[ToolDef] = ()) -> int:
    n = sum(message_tokens(m) for m in messages)
    for t in tools:
        n += (len(t.name) + len(t.description) + len(json.dumps(t.parameters))) // 4
    return n


def _transcript(messages: list[Message]) -> str:
    lines = []
    for m in messages:
        text = m.content
        if m.tool_calls:
            calls = "; ".join(f"{c.name}({json.dumps(c.arguments)})" for c in m.tool_calls)
            text = f"{text} [calls {calls}]".strip()
        who = f"tool {m.name}" if m.role == "tool" else m.role
        lines.append(f"{who}: {text}")
    return "\n".join(lines)


def _split_tail(messages: list[Message], room: int) -> int:
    """Index where the kept recent turns start: as many as fit in ``room``,
    never starting on a tool result (it must follow its call)."""
    start, used = len(messages), 0
    for i in range(len(messages) - 1, -1, -1):
        used += message_tokens(messages[i])
        if used > room:
            break
        start = i
    while start < len(messages) and messages[start].role == "tool":
        start += 1
    return start


async def compact(
    ctx: RunContext,
    messages: list[Message],
    budget: int,
    *,
    model: str | None = None,
    tools: Sequence[ToolDef] = (),
) -> list[Message]:
    """``messages`` if they fit in ``budget`` tokens (with room for an
    answer); else the head, a summary of the middle, and the recent tail."""
    reserve = max(64, budget // 8)
    fixed = estimate_tokens([], tools) + reserve
    if estimate_tokens(messages) + fixed <= budget:
        return messages
    head = 2 if len(messages) > 2 and messages[1].role == "user" else 1
    summary = ""
    body = messages[head:]
    if body and body[0].content.startswith(SUMMARY_HEADER):  # compacted before
        summary, body = body[0].content[len(SUMMARY_HEADER) :], body[1:]
    room = budget - fixed - estimate_tokens(messages[:head])
    cut = _split_tail(body, room // 3)
    middle, tail = body[:cut], body[cut:]
    # each summary request: prompt + summary so far (<= budget/4) + a chunk (<= budget/2)
    chunk_tokens = budget // 2 - 32
    chunks: list[list[Message]] = []
    cur: list[Message] = []
    for m in middle:
        one = Message(m.role, m.content[: chunk_tokens * 4 - 200], m.tool_calls,
                      m.tool_call_id, m.name)  # fmt: skip
        if cur and estimate_tokens([*cur, one]) > chunk_tokens:
            chunks.append(cur)
            cur = []
        cur.append(one)
    if cur:
        chunks.append(cur)
    for c in chunks:
        summary = await _summarize(ctx, summary, c, model, budget // 4)
    note = Message("user", SUMMARY_HEADER + summary)
    return [*messages[:head], note, *tail]


async def _summarize(
    ctx: RunContext, summary: str, chunk: list[Message], model: str | None, max_tokens: int
) -> str:
    text = (f"Summary so far:\n{summary}\n\n" if summary else "") + (
        "Conversation to fold in:\n" + _transcript(chunk)
    )
    req = ModelRequest(
        [Message("system", SUMMARY_PROMPT), Message("user", text)], max_tokens=max_tokens
    )
    resp = await ctx.llm(req, model)
    return resp.content.strip()[: max_tokens * 4]
