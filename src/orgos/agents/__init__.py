"""Agents: the agent loop (and, from the kernel, the versioned registry)."""

from orgos.agents.loop import AgentProgram
from orgos.kernel.registry import AgentRegistry

__all__ = ["AgentProgram", "AgentRegistry"]
