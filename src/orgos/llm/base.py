"""The model protocol: what the kernel asks of any LLM, local or remote.

Wire types are plain slotted dataclasses, not pydantic models: they sit on the
hot path of every step and are journaled as dicts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from orgos.errors import OrgosError

Role = Literal["system", "user", "assistant", "tool"]

#: Receives each text fragment of a streamed response as it arrives.
TokenSink = Callable[[str], Awaitable[None] | None]


@dataclass(slots=True)
class ToolCall:
    """A model's request to call a tool.

    ``arguments`` holds the parsed JSON object. When the model produced text
    that is not a JSON object, ``arguments`` is empty and ``arguments_error``
    says why, so the agent loop can send the error back to the model.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    arguments_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "name": self.name, "arguments": self.arguments}
        if self.arguments_error is not None:
            d["arguments_error"] = self.arguments_error
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ToolCall:
        return cls(d["id"], d["name"], d.get("arguments") or {}, d.get("arguments_error"))


@dataclass(slots=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: For role == "tool": the id of the call this message answers, and its tool name.
    tool_call_id: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            d["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        if self.tool_call_id is not None:
            d["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            d["name"] = self.name
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(
            role=d["role"],
            content=d.get("content") or "",
            tool_calls=[ToolCall.from_dict(c) for c in d.get("tool_calls") or ()],
            tool_call_id=d.get("tool_call_id"),
            name=d.get("name"),
        )


@dataclass(slots=True)
class ToolDef:
    """A tool as the model sees it: a name, a description and a JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


@dataclass(slots=True)
class ModelRequest:
    messages: list[Message]
    tools: list[ToolDef] = field(default_factory=list)
    #: When set and the model answers without a tool call, its answer must be
    #: a JSON document valid against this schema.
    output_schema: dict[str, Any] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    #: "required": while tools are offered the model must call one (it answers
    #: once none is left). "auto": it may answer at any time.
    tool_choice: Literal["auto", "required"] = "auto"


@dataclass(slots=True)
class ModelResponse:
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: str = "stop"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "content": self.content,
            "usage": self.usage.to_dict(),
            "model": self.model,
            "finish_reason": self.finish_reason,
        }
        if self.tool_calls:
            d["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelResponse:
        u = d.get("usage") or {}
        return cls(
            content=d.get("content") or "",
            tool_calls=[ToolCall.from_dict(c) for c in d.get("tool_calls") or ()],
            usage=Usage(int(u.get("input_tokens", 0)), int(u.get("output_tokens", 0))),
            model=d.get("model", ""),
            finish_reason=d.get("finish_reason", "stop"),
        )


class ModelError(OrgosError):
    """A model call failed. ``retryable`` errors (rate limits, 5xx, timeouts,
    dropped connections) are retried with backoff by the kernel; others are
    reported to the run at once. ``retry_after`` is the server's hint, in seconds."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@runtime_checkable
class Model(Protocol):
    """Anything that turns a conversation into the next message.

    Implementations call ``on_token`` with each text fragment when streaming
    is possible, and return the complete response. They raise ``ModelError``
    for failures; they do not retry or time out themselves (the kernel does).
    """

    @property
    def name(self) -> str: ...

    async def complete(
        self, request: ModelRequest, on_token: TokenSink | None = None
    ) -> ModelResponse: ...


@runtime_checkable
class Serial(Protocol):
    """A model that answers one caller at a time (the embedded model). Its
    ``turn()`` is taken before an attempt's timeout starts: time queued behind
    other callers is not taken for a model that does not answer (four parallel
    steps on a slow machine timed out waiting for each other)."""

    def turn(self) -> contextlib.AbstractAsyncContextManager[None]: ...
