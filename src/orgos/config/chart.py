"""Queries over the org chart that routing, delegation and governance share.

Built once from the specs; it never changes under a running Runtime (a new
project load builds a new chart).

In config, not org/: the chart is a checked view of the org spec, and loading
a project checks it (config must not import the services)."""

from __future__ import annotations

from collections.abc import Mapping

from orgos.config.org import OrgSpec, TeamSpec
from orgos.config.specs import AgentSpec
from orgos.errors import ConfigError


class OrgChart:
    def __init__(self, org: OrgSpec, agents: Mapping[str, AgentSpec]) -> None:
        self.spec = org
        self.teams: dict[str, TeamSpec] = {}
        for team in org.teams:
            if team.name in self.teams:
                raise ConfigError(f"team {team.name!r} is defined twice")
            self.teams[team.name] = team
        self.agents = dict(agents)
        self._check()
        #: may_delegate's answers: the chart does not change once built.
        self._delegates: dict[str, tuple[str, ...]] = {}

    def _check(self) -> None:
        for t in self.teams.values():
            if t.parent is not None and t.parent not in self.teams:
                raise ConfigError(f"team {t.name!r}: unknown parent team {t.parent!r}")
            if t.lead is not None and t.lead not in self.agents:
                raise ConfigError(f"team {t.name!r}: unknown lead agent {t.lead!r}")
            for u in t.may_use:
                if u not in self.teams and u not in self.agents:
                    raise ConfigError(f"team {t.name!r}: may_use names unknown {u!r}")
        for a in self.agents.values():
            if a.team is not None and a.team not in self.teams:
                raise ConfigError(f"agent {a.name!r}: unknown team {a.team!r}")
            if a.reports_to is not None and a.reports_to not in self.agents:
                raise ConfigError(f"agent {a.name!r}: reports_to unknown agent {a.reports_to!r}")
        for name in self.agents:
            seen = {name}
            boss = self.supervisor(name)
            while boss is not None:
                if boss in seen:
                    raise ConfigError(f"agent {name!r}: reports_to forms a cycle through {boss!r}")
                seen.add(boss)
                boss = self.supervisor(boss)
        for t in self.teams.values():
            seen_t = {t.name}
            p = t.parent
            while p is not None:
                if p in seen_t:
                    raise ConfigError(f"team {t.name!r}: parent teams form a cycle")
                seen_t.add(p)
                p = self.teams[p].parent

    def team_of(self, agent: str) -> str | None:
        spec = self.agents.get(agent)
        return None if spec is None else spec.team

    def members(self, team: str) -> list[str]:
        return sorted(a.name for a in self.agents.values() if a.team == team)

    def supervisor(self, agent: str) -> str | None:
        """``reports_to``, else the lead of the agent's team, else the lead of
        the nearest parent team (a lead reports up the team tree)."""
        spec = self.agents.get(agent)
        if spec is None:
            return None
        if spec.reports_to is not None:
            return spec.reports_to
        team = self.teams.get(spec.team) if spec.team else None
        while team is not None:
            if team.lead is not None and team.lead != agent:
                return team.lead
            team = self.teams.get(team.parent) if team.parent else None
        return None

    def reports(self, agent: str) -> list[str]:
        """Everyone below ``agent``, direct reports first."""
        direct = sorted(a for a in self.agents if a != agent and self.supervisor(a) == agent)
        out = list(direct)
        for d in direct:
            out.extend(r for r in self.reports(d) if r not in out)
        return out

    def escalation_chain(self, agent: str) -> list[str]:
        """Supervisors upward, then the owner of the agent's team (a person)."""
        chain: list[str] = []
        boss = self.supervisor(agent)
        while boss is not None:
            chain.append(boss)
            boss = self.supervisor(boss)
        team = self.teams.get(self.team_of(agent) or "")
        while team is not None:
            if team.owner is not None:
                chain.append(team.owner)
                break
            team = self.teams.get(team.parent) if team.parent else None
        return chain

    def may_delegate(self, agent: str) -> list[str]:
        """Who ``agent`` may hand work to: its spec's ``delegates`` when set,
        else everyone down its line plus what its team may use."""
        known = self._delegates.get(agent)
        if known is None:
            known = self._delegates[agent] = tuple(self._may_delegate(agent))
        return list(known)

    def _may_delegate(self, agent: str) -> list[str]:
        spec = self.agents.get(agent)
        if spec is None:
            return []
        if spec.delegates is not None:
            return list(spec.delegates)
        out = self.reports(agent)
        team = self.teams.get(spec.team) if spec.team else None
        if team is not None:
            for u in team.may_use:
                for target in self.members(u) if u in self.teams else [u]:
                    if target != agent and target not in out:
                        out.append(target)
        return out
