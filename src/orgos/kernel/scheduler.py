"""Which runs a worker starts: per-agent concurrency limits, priorities, and
fair share between teams, so that one team's burst cannot starve another.

Without a scheduler a kernel starts any run while it has room (``max_active``)
and claims queued runs by priority, then age. With one:

* a new run starts at once only while its agent is under ``max_concurrent``
  and its team under its share of ``max_active`` (``share`` weights in the org
  chart); otherwise it is queued;
* the dispatcher claims queued runs highest priority first and, within a
  priority, from the team using least of its share, skipping agents at their
  limit. Claiming is work-conserving: a team may use idle slots beyond its
  share; it only loses them to other teams' waiting work.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orgos.store.base import RunRecord
from orgos.store.records import Candidate
from orgos.store.repos import SchedulingRepo

if TYPE_CHECKING:
    from orgos.kernel.kernel import Kernel


@dataclass
class Policy:
    """Limits and shares, read from the agents and the org chart."""

    agent_limit: Mapping[str, int]
    team_of: Mapping[str, str]
    share: Mapping[str, float]


class Scheduler:
    def __init__(self, policy: Callable[[], Policy], claim_source: SchedulingRepo):
        self._policy = policy
        self._source = claim_source
        #: Set when a run was queued for want of room: the dispatcher looks
        #: at the queue as soon as a run ends.
        self.backlog = False
        #: The runs of the claim in flight (counted as held until it returns).
        self._claiming: list[Candidate] = []

    def _team(self, p: Policy, kind: str, target: str) -> str:
        return p.team_of.get(target, "") if kind == "agent" else ""

    def _load(self, kernel: Kernel) -> tuple[Counter[str], Counter[str]]:
        p = self._policy()
        agents: Counter[str] = Counter()
        teams: Counter[str] = Counter()
        held = [(rec.kind, rec.target) for rec in kernel.held_records()]
        for kind, target in [*held, *((c.kind, c.target) for c in self._claiming)]:
            if kind == "agent":
                agents[target] += 1
            teams[self._team(p, kind, target)] += 1
        return agents, teams

    def _quota(self, p: Policy, team: str, kernel: Kernel) -> float:
        if not team or not p.share:
            return float(kernel.max_active)
        total = sum(p.share.values())
        return kernel.max_active * p.share.get(team, 1.0) / total

    def admit(self, kernel: Kernel, kind: str, target: str) -> bool:
        """May a new run of ``target`` start on this worker now?"""
        p = self._policy()
        agents, teams = self._load(kernel)
        limit = p.agent_limit.get(target) if kind == "agent" else None
        team = self._team(p, kind, target)
        ok = (limit is None or agents[target] < limit) and teams[team] < max(
            1.0, self._quota(p, team, kernel)
        )
        if not ok:
            self.backlog = True
        return ok

    async def claim(self, kernel: Kernel, free: int) -> list[RunRecord]:
        """Claim up to ``free`` queued runs, fairly."""
        if free <= 0:
            return []
        p = self._policy()
        candidates = await self._source.candidates(free * 20 + 100, kernel.roots, kernel.workspaces)
        agents, teams = self._load(kernel)
        chosen: list[str] = []
        by_priority: dict[int, list[Candidate]] = {}
        for c in candidates:
            by_priority.setdefault(c.priority, []).append(c)
        for prio in sorted(by_priority, reverse=True):
            queue = by_priority[prio]
            while len(chosen) < free:
                eligible = [
                    c for c in queue
                    if c.kind != "agent" or agents[c.target] < p.agent_limit.get(c.target, 1 << 30)
                ]  # fmt: skip
                if not eligible:
                    break

                def usage(c: Candidate) -> tuple[float, float]:
                    team = self._team(p, c.kind, c.target)
                    return teams[team] / max(self._quota(p, team, kernel), 1e-9), c.created_at

                pick = min(eligible, key=usage)
                queue.remove(pick)
                chosen.append(pick.id)
                agents[pick.target] += pick.kind == "agent"
                teams[self._team(p, pick.kind, pick.target)] += 1
            if len(chosen) >= free:
                break
        self.backlog = len(chosen) < len(candidates)
        if not chosen:
            return []
        # While the claim is in flight (a network round trip on PostgreSQL),
        # a run admitted meanwhile counts the chosen ones: limits hold.
        picked = set(chosen)
        self._claiming = [c for c in candidates if c.id in picked]
        try:
            return await self._source.claim(kernel.worker_id, chosen, time.time(),
                                            kernel.workspaces)  # fmt: skip
        finally:
            self._claiming = []
