"""Agents: the versioned registry and the agent loop."""

from orgos.agents.loop import AgentProgram
from orgos.agents.registry import AgentRegistry

__all__ = ["AgentProgram", "AgentRegistry"]
