"""Test helpers for orgos and its users: a scripted model, and a fake
OpenAI/Anthropic HTTP server (which needs starlette and uvicorn, so it is
imported only when asked for)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orgos.llm.scripted import Responder, ScriptedModel, ScriptExhausted

if TYPE_CHECKING:
    from orgos.testing.fake_openai import FakeOpenAIServer, RawToolCall, RecordedRequest

_LAZY = {"FakeOpenAIServer", "RawToolCall", "RecordedRequest"}

__all__ = [
    "FakeOpenAIServer",
    "RawToolCall",
    "RecordedRequest",
    "Responder",
    "ScriptExhausted",
    "ScriptedModel",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("orgos.testing.fake_openai"), name)
    raise AttributeError(f"module 'orgos.testing' has no attribute {name!r}")
