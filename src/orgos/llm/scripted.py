"""A model that answers from a script: for tests (ours and yours) and for
benchmarks, where it stands in for an LLM with a fixed latency. The hot path
is kept to a few attribute reads: no validation, no copies."""

from __future__ import annotations

import asyncio
import inspect
import json
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from orgos.llm.base import (
    ModelError,
    ModelRequest,
    ModelResponse,
    TokenSink,
    ToolCall,
    Usage,
)

#: Computes the answer to a request; may be sync or async.
Responder = Callable[[ModelRequest], ModelResponse | Awaitable[ModelResponse]]


class ScriptExhausted(ModelError):
    """The script has no answer left for a request (never retryable)."""


class ScriptedModel:
    """Answers requests in order from ``script``, then (or instead) from
    ``responder``.

    Script items are ``ModelResponse``s, plain strings (final answers) or
    exceptions (raised when their turn comes: a way to inject failures).
    ``latency`` seconds pass before each answer. Content is streamed to
    ``on_token`` in up to ``chunks`` pieces. Requests are appended to
    ``requests`` unless ``record=False``.
    """

    def __init__(
        self,
        script: Iterable[ModelResponse | str | BaseException] | Responder | None = None,
        *,
        responder: Responder | None = None,
        name: str = "scripted",
        latency: float = 0.0,
        chunks: int = 3,
        record: bool = True,
    ) -> None:
        if callable(script):
            if responder is not None:
                raise TypeError("pass the responder once")
            responder, script = script, None
        self._script: deque[ModelResponse | str | BaseException] = deque(script or ())
        self._responder = responder
        self._name = name
        self.latency = latency
        self.chunks = max(1, chunks)
        self.record = record
        self.requests: list[ModelRequest] = []
        self.call_count = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def remaining(self) -> int:
        """How many scripted answers are left (not counting the responder)."""
        return len(self._script)

    def add(self, *items: ModelResponse | str | BaseException) -> None:
        """Append answers to the script."""
        self._script.extend(items)

    async def complete(
        self, request: ModelRequest, on_token: TokenSink | None = None
    ) -> ModelResponse:
        self.call_count += 1
        if self.record:
            self.requests.append(request)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self._script:
            item = self._script.popleft()
            if isinstance(item, BaseException):
                raise item
            response = ModelResponse(content=item) if isinstance(item, str) else item
        elif self._responder is not None:
            result = self._responder(request)
            response = await result if inspect.isawaitable(result) else result
        else:
            raise ScriptExhausted(
                f"ScriptedModel {self._name!r} has no answer for call #{self.call_count}: "
                "the script ran out (add more responses or a responder)"
            )
        if on_token is not None and response.content:
            await _stream(response.content, self.chunks, on_token)
        usage = response.usage
        if not (usage.input_tokens or usage.output_tokens):
            usage = _estimate(request, response)
        elif response.model:
            return response
        return ModelResponse(
            response.content,
            response.tool_calls,
            usage,
            response.model or self._name,
            response.finish_reason,
        )

    @staticmethod
    def call(tool_name: str, /, **arguments: Any) -> ModelResponse:
        """A response that calls one tool with ``arguments``."""
        return ModelResponse(
            tool_calls=[ToolCall(_call_id(), tool_name, arguments)], finish_reason="tool_calls"
        )

    @staticmethod
    def calls(*calls: tuple[str, dict[str, Any]]) -> ModelResponse:
        """A response that calls several tools at once: ``("name", {args})`` pairs."""
        return ModelResponse(
            tool_calls=[ToolCall(_call_id(), n, dict(a)) for n, a in calls],
            finish_reason="tool_calls",
        )

    @staticmethod
    def final(answer: Any) -> ModelResponse:
        """A final answer: a string as is, anything else as JSON."""
        return ModelResponse(content=answer if isinstance(answer, str) else json.dumps(answer))


def _call_id() -> str:
    # Unique enough for a test model, and no system call per tool call.
    return f"call_{random.getrandbits(48):012x}"


async def _stream(content: str, chunks: int, on_token: TokenSink) -> None:
    step = max(1, -(-len(content) // chunks))
    for i in range(0, len(content), step):
        result = on_token(content[i : i + step])
        if result is not None:
            await result


def _estimate(request: ModelRequest, response: ModelResponse) -> Usage:
    """About four characters a token: cheap, and good enough for budgets in tests."""
    chars = sum([len(m.content) for m in request.messages]) + 4 * len(request.messages)
    out = len(response.content)
    for c in response.tool_calls:
        out += len(c.name) + 8 * len(c.arguments) + 4
    return Usage(chars // 4 + 1, out // 4 + 1)
