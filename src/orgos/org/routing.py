"""Routing: which agent gets a piece of work.

By name; by required capabilities; least-loaded among the capable agents
(their queued and running runs, against each agent's ``max_concurrent``); or
by a supervisor agent's choice, made under a JSON Schema that only allows the
candidates (the capable agents the org chart lets the supervisor hand work
to). Agents whose circuit breaker is open get nothing until it cools down.

The router holds no model and no kernel: a supervisor's choice is an ``llm``
syscall of the run that routes (``RunContext.llm``), so it is journaled,
audited and governed like every model call; the router only builds its
request and reads its answer. Every choice is journaled by the caller (a
``route`` syscall), so a replay never routes twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping

import pydantic_core

from orgos.config.specs import AgentSpec
from orgos.config.workflow import RouteSpec
from orgos.kernel.breakers import CircuitBreaker
from orgos.kernel.run_input import RunInput
from orgos.kernel.syscall import Syscall, Verdict
from orgos.llm.base import Message, ModelRequest
from orgos.store.base import RunRecord, RunStatus
from orgos.store.repos import LoadRepo


class Router:
    def __init__(
        self,
        agents: Callable[[], Mapping[str, AgentSpec]],
        loads: LoadRepo | None,
        *,
        breaker_failures: int = 3,
        breaker_cooldown: float = 30.0,
        clock: Callable[[], float] | None = None,
    ):
        self._agents = agents
        self._loads = loads
        self.breaker_failures = breaker_failures
        self.breaker_cooldown = breaker_cooldown
        #: The breakers' clock (seconds, monotonic); tests may replace it.
        self.clock: Callable[[], float] = clock or time.monotonic
        self.breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, agent: str) -> CircuitBreaker:
        b = self.breakers.get(agent)
        if b is None:
            b = CircuitBreaker(self.breaker_failures, self.breaker_cooldown, lambda: self.clock())
            self.breakers[agent] = b
        return b

    def observe(self, run: RunRecord) -> None:
        """A run ended on this worker: feed its agent's breaker (kernel hook)."""
        if run.kind == "agent" and run.status is not RunStatus.CANCELLED:
            self.breaker(run.target).record(run.status is RunStatus.SUCCEEDED)

    def capable(self, capabilities: list[str]) -> list[str]:
        need = set(capabilities)
        return sorted(n for n, a in self._agents().items() if need <= set(a.capabilities))

    def capabilities_of(self, agents: list[str]) -> list[str]:
        """Every capability some of ``agents`` has."""
        specs = self._agents()
        return sorted({c for a in agents if a in specs for c in specs[a].capabilities})

    async def load(self, workspace: str, agents: list[str]) -> dict[str, int]:
        if self._loads is not None:
            return await self._loads.active_runs(workspace, agents)
        return {a: 0 for a in agents}  # a backend without load queries: spread by name

    def candidates(
        self, capabilities: list[str], exclude: list[str], within: list[str] | None = None
    ) -> list[str]:
        """The capable agents (among ``within``, who the org chart allows)
        that may get work now. LookupError when there are none."""
        capable = [a for a in self.capable(capabilities) if a not in exclude]
        if within is not None:
            capable = [a for a in capable if a in within]
        if not capable:
            why = f" other than {', '.join(exclude)}" if exclude else ""
            among = f" among {', '.join(within) or 'nobody'}" if within is not None else ""
            raise LookupError(f"no agent{why}{among} has the capabilities {capabilities}")
        allowed = [a for a in capable if self.breaker(a).allows()]
        if not allowed:
            raise LookupError(
                f"every capable agent is cooling down after failures: {', '.join(capable)}"
            )
        return allowed

    async def choose(
        self,
        workspace: str,
        route: RouteSpec,
        n: int,
        exclude: list[str],
        *,
        pick: str | None = None,
        within: list[str] | None = None,
    ) -> list[str]:
        """``n`` agents for ``route``: the supervisor's ``pick`` n times when
        it may still take them, else spread by load. LookupError when nobody can."""
        allowed = self.candidates(route.capabilities, exclude, within)
        if pick in allowed and (n == 1 or self.breaker(pick).state != "half-open"):
            return self.admit([pick] * n)
        return self.admit(await self.least_loaded(workspace, allowed, n))

    def admit(self, chosen: list[str]) -> list[str]:
        """Send the chosen work: a half-open agent takes exactly one trial."""
        for a in dict.fromkeys(chosen):
            self.breaker(a).admit()
        return chosen

    async def least_loaded(self, workspace: str, agents: list[str], n: int) -> list[str]:
        """Spread ``n`` pieces of work: each to the agent with the most room
        left under its ``max_concurrent`` (then the fewest runs, then by name).
        A half-open agent (its breaker's trial) gets at most one."""
        specs = self._agents()
        load = await self.load(workspace, agents)
        limit = {a: specs[a].max_concurrent for a in agents}
        trial = {a for a in agents if self.breaker(a).state == "half-open"}
        out: list[str] = []

        def rank(a: str) -> tuple[int, float, str]:
            cap = limit[a]
            if cap is None:
                return 0, float(load[a]), a
            full = 1 if load[a] >= cap else 0
            return full, load[a] / cap, a

        for _ in range(n):
            free = [a for a in agents if a not in trial or a not in out]
            if not free:
                raise LookupError(
                    f"every capable agent is cooling down after failures: {', '.join(agents)}"
                    " (one trial each)"
                )
            best = min(free, key=rank)
            out.append(best)
            load[best] += 1
        return out

    # --- a supervisor's choice ------------------------------------------------------
    def supervisor_request(
        self, supervisor: str, agents: list[str], task: str
    ) -> tuple[ModelRequest, str] | None:
        """The model request asking ``supervisor`` to choose among ``agents``,
        and its model key (None: no such agent)."""
        specs = self._agents()
        spec = specs.get(supervisor)
        if spec is None:
            return None
        roster = "\n".join(
            f"- {a}: {specs[a].role} {specs[a].description}".rstrip() for a in agents
        )
        schema = {
            "type": "object",
            "properties": {"agent": {"type": "string", "enum": agents}},
            "required": ["agent"],
        }
        system = (
            f"You are {spec.name}" + (f", the {spec.role}." if spec.role else ".")
            + "\n\nChoose the agent that should do the task. Candidates:\n" + roster
            + "\n\nAnswer with only a JSON document matching this schema:\n" + json.dumps(schema)
        )  # fmt: skip
        req = ModelRequest([Message("system", system), Message("user", task or "(no task text)")],
                           [], schema, spec.temperature)  # fmt: skip
        return req, spec.model

    @staticmethod
    def supervisor_pick(answer: str, agents: list[str]) -> str | None:
        """The agent a supervisor's answer names, if it is one of ``agents``."""
        try:
            pick = pydantic_core.from_json(answer.strip()).get("agent")
        except (ValueError, AttributeError):
            return None
        return pick if pick in agents else None

    # --- delegation -----------------------------------------------------------------
    async def check(self, sc: Syscall) -> Verdict | None:
        """Before-hook: an agent's delegation by name goes only to an agent
        whose breaker lets work through (a half-open one takes one trial).
        Routed children (``routed`` in their input) were admitted by their
        ``route`` syscall; workflow runs route their steps themselves."""
        if sc.kind != "delegate" or sc.run.kind != "agent":
            return None
        named = [c["target"] for c in sc.request.get("children") or ()
                 if c.get("kind") == "agent" and not _routed(c.get("input"))]  # fmt: skip
        for a in dict.fromkeys(named):
            b = self.breaker(a)
            if not b.allows() or (b.state == "half-open" and named.count(a) > 1):
                return Verdict.deny(f"agent {a} is cooling down after failures; try another")
        self.admit(named)
        return None


def _routed(inp: object) -> bool:
    return isinstance(inp, dict) and RunInput.read(inp).routed
