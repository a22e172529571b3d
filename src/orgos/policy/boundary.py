"""The workspace boundary: what no agent of the workspace may be given."""

from __future__ import annotations

from orgos.config.specs import AgentSpec
from orgos.errors import ConfigError
from orgos.policy.spec import PolicySpec


def check_boundary(spec: PolicySpec, agents: dict[str, AgentSpec]) -> None:
    """No agent may be given more than the workspace boundary allows."""
    b = spec.boundary
    if b is None:
        return
    for a in agents.values():
        if b.tools is not None:
            extra = sorted(set(a.tools) - set(b.tools))
            if extra:
                raise ConfigError(
                    f"agent {a.name!r} is given tools outside the workspace boundary:"
                    f" {', '.join(extra)}"
                )
        if b.models is not None and a.model not in b.models:
            raise ConfigError(
                f"agent {a.name!r} uses model {a.model!r}, outside the workspace boundary"
                f" ({', '.join(b.models)})"
            )
        if not b.delegates and a.delegates:
            raise ConfigError(f"agent {a.name!r} may delegate, but the boundary forbids it")
