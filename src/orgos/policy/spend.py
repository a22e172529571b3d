"""Spend: what governed model calls cost, counted against budgets."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from orgos.kernel.syscall import Syscall
from orgos.policy.budgets import Meter, Prices, RateLimiter, day_of
from orgos.policy.spec import PolicySpec
from orgos.store.base import Audit, RunRecord, Usage
from orgos.store.records import LlmUsage

if TYPE_CHECKING:
    from orgos.policy.governance import Governance, RunState


class Budgets:
    """The spend of a governed runtime (``Governance.budgets``).

    Owns the meter (tokens and cost per run, run tree, agent, team and
    day), the prices, the rate limiter, and how the meter is kept true
    across processes: today's usage read at start, other workers' spend
    read every ``interval`` seconds, a run's and its tree's spend rebuilt
    when this process first sees the run, and the usage record every model
    call commits with its result (what other workers read)."""

    def __init__(
        self,
        gov: Governance,
        spec: PolicySpec,
        interval: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.gov = gov
        self.interval = interval
        self.meter = Meter()
        self.limiter = RateLimiter({}, clock=clock, sleep=sleep)
        self.prices = Prices(spec.prices)
        self.limiter = self.limiter.renewed(spec.rate_limits)
        #: The audit seq up to which other workers' spend is counted in the meter.
        self._spend_seq = 0
        self._spend_next = 0.0

    def apply(self, spec: PolicySpec) -> None:
        """The prices and rate limits of a policy (loaded or reloaded)."""
        self.prices = Prices(spec.prices)
        self.limiter = self.limiter.renewed(spec.rate_limits)

    async def load_day(self) -> None:
        """At start: today's usage, on every worker, into the meter."""
        gov = self.gov
        day0 = day_of(time.time()) * 86_400.0
        day = await gov.store.usage.day_usage(gov.workspace, day0)
        self._spend_seq = day.seq
        for u in day.calls:
            cost = self.prices.cost(u.model_key, u.model, u.input_tokens, u.output_tokens)
            tokens = u.input_tokens + u.output_tokens
            self.meter.charge_day(u.run_target, gov.team(u.run_target), tokens, cost)

    async def rebuild(self, run: RunRecord, seq: int) -> None:
        """A run this process has not seen yet: its spend so far, and its
        tree's (on any worker: a run's budget covers its tree), from the
        usage records."""
        usage = self.gov.store.usage
        if seq > 1 and self.meter.run(run.id) is None:
            for u in await usage.llm_usage(run.workspace, run_id=run.id):
                self.meter.charge_run(run.id, *self.priced(u))
        root = run.root_id or run.id
        if root not in self.meter.trees and (seq > 1 or run.parent_id is not None):
            self.meter.open_tree(root)
            for u in await usage.llm_usage(run.workspace, root_id=root):
                self.meter.charge_tree(root, *self.priced(u))

    def sync_due(self, spec: PolicySpec) -> bool:
        """Whether other workers' spend is to be read before the next check
        (budgets across runs, and ``interval`` passed since the last look)."""
        b = spec.budgets
        return bool(b.day or b.agents or b.teams) and time.monotonic() >= self._spend_next

    def exhausted(self, sc: Syscall, st: RunState, spec: PolicySpec) -> str | None:
        """Why a model call is over a budget, or None."""
        run = sc.run
        return self.meter.exhausted(
            spec.budgets, run.id, st.agent, st.team, spec.currency, run.root_id
        )

    def priced(self, u: LlmUsage) -> tuple[int, float]:
        """A recorded call's tokens and cost (at today's prices)."""
        tin, tout = u.input_tokens, u.output_tokens
        return tin + tout, self.prices.cost(u.model_key, u.model, tin, tout)

    async def sync_spend(self) -> None:
        """Count what other workers spent today since the last look (this
        worker's own calls are charged as they end, by ``charge``)."""
        gov = self.gov
        self._spend_next = time.monotonic() + self.interval
        now = time.time()
        me, today = gov.kernel.worker_id, day_of(now)
        meter = self.meter
        meter.roll(now)
        for sp in await gov.store.usage.spend_after(gov.workspace, self._spend_seq):
            self._spend_seq = max(self._spend_seq, sp.seq)
            if sp.worker != me and day_of(sp.ts) == today:
                meter.charge_day(sp.agent, gov.team(sp.agent), sp.tokens, sp.cost)

    def record_usage(self, sc: Syscall, ok: dict[str, Any]) -> None:
        """A model call's tokens and cost into its audit record and a usage
        record, committed with its result."""
        u = ok.get("usage") or {}
        tin, tout = int(u.get("input_tokens", 0)), int(u.get("output_tokens", 0))
        key, model = str(sc.request.get("model", "default")), str(ok.get("model", ""))
        cost = self.prices.cost(key, model, tin, tout)
        worker = self.gov.kernel.worker_id
        agent = str(sc.request.get("agent") or sc.run.target)
        for op in reversed(sc.ops):
            if type(op) is Audit and op.action == "llm.allow" and op.seq == sc.seq:
                op.data.update(tokens=tin + tout, cost=cost, worker=worker)
                agent = op.actor.removeprefix("agent:")
                break
        sc.ops.append(Usage(sc.run.workspace, sc.run.id, sc.seq, agent, key, model, tin, tout,
                            cost, worker, time.time()))  # fmt: skip

    def charge(self, sc: Syscall, st: RunState, ok: dict[str, Any]) -> float:
        """Charge a model call that ended to the meter and the rate limiter; its cost."""
        u = ok.get("usage") or {}
        tin, tout = int(u.get("input_tokens", 0)), int(u.get("output_tokens", 0))
        key = str(sc.request.get("model", "default"))
        cost = self.prices.cost(key, str(ok.get("model", "")), tin, tout)
        run = sc.run
        self.meter.charge(run.id, st.agent, st.team, tin + tout, cost, time.time(), run.root_id)
        self.limiter.spend(key, tin + tout)
        return cost
