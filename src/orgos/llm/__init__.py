"""Model adapters behind one protocol (``Model``).

The adapters are imported on first use: the SDKs are slow to import and the
kernel only needs the protocol types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orgos.llm.base import (
    Message,
    Model,
    ModelError,
    ModelRequest,
    ModelResponse,
    TokenSink,
    ToolCall,
    ToolDef,
    Usage,
)

if TYPE_CHECKING:
    from orgos.llm.anthropic import AnthropicModel
    from orgos.llm.local import LocalModel
    from orgos.llm.openai_compat import OpenAICompatModel
    from orgos.llm.retry import RetriesExhausted, complete_with_retry
    from orgos.llm.select import ModelConfig, build_model

_LAZY = {
    "AnthropicModel": "orgos.llm.anthropic",
    "LocalModel": "orgos.llm.local",
    "OpenAICompatModel": "orgos.llm.openai_compat",
    "RetriesExhausted": "orgos.llm.retry",
    "complete_with_retry": "orgos.llm.retry",
    "ModelConfig": "orgos.llm.select",
    "build_model": "orgos.llm.select",
}

__all__ = [
    "AnthropicModel",
    "LocalModel",
    "Message",
    "Model",
    "ModelConfig",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "OpenAICompatModel",
    "RetriesExhausted",
    "TokenSink",
    "ToolCall",
    "ToolDef",
    "Usage",
    "build_model",
    "complete_with_retry",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orgos.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
