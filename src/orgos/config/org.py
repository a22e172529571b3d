"""The org chart as data: teams, who leads them, who owns them, and which
other agents a team may use. Agents say which team they are on and whom they
report to (``AgentSpec.team`` / ``reports_to``), so membership has one source."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from orgos.config.access import FileAccess, MemoryScope
from orgos.config.specs import NAME_PATTERN


class TeamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    #: The person accountable for the team (the last step of an escalation).
    owner: str | None = None
    #: The agent that supervises the team's members (their default ``reports_to``).
    lead: str | None = None
    #: The team this one sits under.
    parent: str | None = None
    #: Agents or teams outside the team that its members may delegate to.
    may_use: list[str] = Field(default_factory=list)
    #: The team's weight when workers share their slots between teams (fair
    #: share: a team's burst cannot starve another).
    share: float = Field(default=1.0, gt=0)
    #: Workspace paths every member may read and write (and the team folder's quota).
    files: FileAccess | None = None
    #: Memory scopes every member may use, on top of their own.
    memory: list[MemoryScope] | None = None


class OrgSpec(BaseModel):
    """``org.yaml``. An empty org is valid: a project of loose agents."""

    model_config = ConfigDict(extra="forbid")

    name: str = "org"
    teams: list[TeamSpec] = Field(default_factory=list)


__all__ = ["OrgSpec", "TeamSpec"]
