"""Tools: typed Python functions the agents may call."""

from orgos.tools.base import IDEMPOTENCY_KEY, Tool, ToolResult, tool

__all__ = ["IDEMPOTENCY_KEY", "Tool", "ToolResult", "tool"]
