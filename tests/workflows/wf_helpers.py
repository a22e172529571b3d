"""Shared by the workflow tests: a scripted model that plays every agent.

Each agent is a handler ``(task text) -> data``; the model answers with the
report a workflow step asks for (data, summary, confidence). A handler may be
async (to wait on an event) or raise ModelError (the run fails)."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from orgos.llm.base import ModelRequest, ModelResponse
from orgos.testing import ScriptedModel

Handler = Callable[[str], Any | Awaitable[Any]]


def agent_of(req: ModelRequest) -> str:
    m = re.match(r"You are ([a-z0-9_-]+)", req.messages[0].content)
    return m.group(1) if m else "?"


def agents_model(
    handlers: dict[str, Handler], calls: list[tuple[str, str]] | None = None
) -> ScriptedModel:
    async def respond(req: ModelRequest) -> ModelResponse:
        agent = agent_of(req)
        task = req.messages[1].content
        if calls is not None:
            calls.append((agent, task))
        result = handlers[agent](task)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, ModelResponse):
            return result
        return ScriptedModel.final(
            {
                "data": result,
                "summary": f"{agent} found {json.dumps(result)[:60]}",
                "confidence": 0.8,
            }
        )

    return ScriptedModel(respond, record=False)


def context_of(task: str) -> dict[str, Any]:
    """The Context JSON of a delegated task message."""
    _, _, ctx = task.partition("Context:\n")
    return json.loads(ctx.split("\n\n(Delegated")[0]) if ctx else {}
