"""orgos: an operating system for an AI workforce.

The public surface is small and imported lazily, so ``import orgos`` stays fast:

    from orgos import Agent, Runtime, tool
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Agent": ("orgos.config.specs", "AgentSpec"),
    "AgentSpec": ("orgos.config.specs", "AgentSpec"),
    "Runtime": ("orgos.runtime", "Runtime"),
    "tool": ("orgos.tools.base", "tool"),
    "Tool": ("orgos.tools.base", "Tool"),
    "ToolResult": ("orgos.tools.base", "ToolResult"),
    "validator": ("orgos.tools.validators", "validator"),
    "RunStatus": ("orgos.store.base", "RunStatus"),
    "RunRecord": ("orgos.store.base", "RunRecord"),
    "Durability": ("orgos.store.base", "Durability"),
    "connect": ("orgos.runtime", "Runtime.from_project"),
    "Workflow": ("orgos.config.workflow", "WorkflowSpec"),
    "WorkflowSpec": ("orgos.config.workflow", "WorkflowSpec"),
    "OrgSpec": ("orgos.config.org", "OrgSpec"),
    "TeamSpec": ("orgos.config.org", "TeamSpec"),
    "OrgosError": ("orgos.errors", "OrgosError"),
    "ConfigError": ("orgos.errors", "ConfigError"),
    "NotFound": ("orgos.errors", "NotFound"),
    "RunFailed": ("orgos.errors", "RunFailed"),
    "ModelError": ("orgos.llm.base", "ModelError"),
}

__all__ = [
    "Agent",
    "AgentSpec",
    "ConfigError",
    "Durability",
    "ModelError",
    "NotFound",
    "OrgSpec",
    "OrgosError",
    "RunFailed",
    "RunRecord",
    "RunStatus",
    "Runtime",
    "TeamSpec",
    "Tool",
    "ToolResult",
    "Workflow",
    "WorkflowSpec",
    "connect",
    "tool",
    "validator",
]

if TYPE_CHECKING:
    from orgos.config.org import OrgSpec, TeamSpec
    from orgos.config.specs import AgentSpec
    from orgos.config.specs import AgentSpec as Agent
    from orgos.config.workflow import WorkflowSpec
    from orgos.config.workflow import WorkflowSpec as Workflow
    from orgos.errors import ConfigError, NotFound, OrgosError, RunFailed
    from orgos.llm.base import ModelError
    from orgos.runtime import Runtime
    from orgos.store.base import Durability, RunRecord, RunStatus
    from orgos.tools.base import Tool, ToolResult, tool
    from orgos.tools.validators import validator

    connect = Runtime.from_project


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'orgos' has no attribute {name!r}") from None
    import importlib

    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    globals()[name] = obj
    return obj
