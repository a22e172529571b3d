"""Specs for agents and projects, and YAML loading with file:line errors."""

from orgos.config.specs import AgentSpec, ModelConfig, ProjectSpec

__all__ = ["AgentSpec", "ModelConfig", "ProjectSpec"]
