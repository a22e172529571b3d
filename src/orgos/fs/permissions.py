"""Who may read and write which paths: agents from their spec and their
team's (the org), people from their role. One Grant type serves both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from orgos.config.access import FileAccess, MemoryScope
from orgos.config.org import TeamSpec
from orgos.config.specs import AgentSpec
from orgos.globs import glob_match

Mode = Literal["read", "write"]

#: What an agent may touch when neither it nor its team says otherwise.
DEFAULT_FILES = FileAccess(
    read=["agents/{agent}/**", "teams/{team}/**", "shared/**"],
    write=["agents/{agent}/**", "teams/{team}/**"],
)
DEFAULT_MEMORY: tuple[MemoryScope, ...] = ("agent", "team")


@dataclass(slots=True, frozen=True)
class Grant:
    read: tuple[str, ...]
    write: tuple[str, ...]

    def may(self, mode: Mode, path: str) -> bool:
        globs = self.write if mode == "write" else self.read
        return any(glob_match(g, path) for g in globs)


def _expand(globs: list[str], agent: str, team: str | None) -> list[str]:
    out = []
    for g in globs:
        if "{team}" in g and team is None:
            continue
        out.append(g.replace("{agent}", agent).replace("{team}", team or ""))
    return out


def agent_grant(spec: AgentSpec, teams: Mapping[str, TeamSpec]) -> Grant:
    """The agent's own globs plus its team's; the defaults when neither is set."""
    team = teams.get(spec.team) if spec.team else None
    parts = [a for a in (spec.files, team.files if team else None) if a is not None]
    if not parts:
        parts = [DEFAULT_FILES]
    read: list[str] = []
    write: list[str] = []
    for p in parts:
        read += _expand(p.read, spec.name, spec.team)
        write += _expand(p.write, spec.name, spec.team)
    # what one may write, one may read back
    return Grant(tuple(dict.fromkeys(read + write)), tuple(dict.fromkeys(write)))


def agent_memory(spec: AgentSpec, teams: Mapping[str, TeamSpec]) -> frozenset[MemoryScope]:
    team = teams.get(spec.team) if spec.team else None
    scopes: set[MemoryScope] = set()
    if spec.memory is None:
        scopes.update(DEFAULT_MEMORY)
    scopes.update(spec.memory or ())
    if team is not None:
        scopes.update(team.memory or ())
    if spec.team is None:
        scopes.discard("team")
    return frozenset(scopes)
