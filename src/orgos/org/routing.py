"""Routing: which agent gets a piece of work.

By name; by required capabilities; least-loaded among the capable agents
(their queued and running runs, against each agent's ``max_concurrent``); or
by a supervisor agent's choice, made under a JSON Schema that only allows the
candidates. Agents whose circuit breaker is open get nothing until it cools
down. The routing decision is journaled by the caller (a workflow's ``route``
syscall), so a replay never routes twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pydantic_core

from orgos.config.specs import AgentSpec
from orgos.config.workflow import RouteSpec
from orgos.llm.base import Message, ModelError, ModelRequest
from orgos.org.breaker import CircuitBreaker
from orgos.store.base import RunRecord, RunStatus
from orgos.store.routing import LoadSource

if TYPE_CHECKING:
    from orgos.kernel.kernel import Kernel

log = logging.getLogger("orgos.routing")


class Router:
    def __init__(
        self,
        agents: Callable[[], Mapping[str, AgentSpec]],
        loads: LoadSource | None,
        kernel: Kernel,
        *,
        breaker_failures: int = 3,
        breaker_cooldown: float = 30.0,
        clock: Callable[[], float] | None = None,
    ):
        self._agents = agents
        self._loads = loads
        self._kernel = kernel
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

    async def load(self, workspace: str, agents: list[str]) -> dict[str, int]:
        if self._loads is not None:
            return await self._loads.active_runs(workspace, agents)
        return {a: 0 for a in agents}  # a backend without load queries: spread by name

    async def choose(
        self, workspace: str, route: RouteSpec, n: int, exclude: list[str], task: str = ""
    ) -> list[str]:
        """``n`` agents for ``route`` (the same one n times for a supervisor's
        choice; spread by load otherwise). LookupError when nobody can take it."""
        capable = [a for a in self.capable(route.capabilities) if a not in exclude]
        if not capable:
            why = f" other than {', '.join(exclude)}" if exclude else ""
            raise LookupError(f"no agent{why} has the capabilities {route.capabilities}")
        open_ = [a for a in capable if not self.breaker(a).allows()]
        allowed = [a for a in capable if a not in open_]
        if not allowed:
            raise LookupError(
                f"every capable agent is cooling down after failures: {', '.join(open_)}"
            )
        if route.strategy == "supervisor" and route.supervisor is not None:
            pick = await self._ask_supervisor(route.supervisor, allowed, task)
            if pick is not None:
                return self.admit([pick] * n)
        return self.admit(await self.least_loaded(workspace, allowed, n))

    def admit(self, chosen: list[str]) -> list[str]:
        """Send the chosen work: a half-open agent takes exactly one trial
        (LookupError when the choice would send it more)."""
        for a in dict.fromkeys(chosen):
            b = self.breaker(a)
            if b.state == "half-open" and chosen.count(a) > 1:
                raise LookupError(f"{a} is cooling down after failures: it takes one trial")
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

    async def _ask_supervisor(self, supervisor: str, agents: list[str], task: str) -> str | None:
        spec = self._agents().get(supervisor)
        if spec is None:
            return None
        specs = self._agents()
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
        try:
            resp = await self._kernel.complete(spec.model, req, None)
            pick = pydantic_core.from_json(resp.content.strip()).get("agent")
        except (ModelError, ValueError, AttributeError) as exc:
            log.warning("supervisor %s could not choose (%s); routing by load", supervisor, exc)
            return None
        return pick if pick in agents else None
