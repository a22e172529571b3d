"""Budgets and rate limits: what model calls cost, running totals per run,
agent, team and UTC day, and per-provider token buckets that make a run
wait (never fail) when it is over a rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from orgos.policy.spec import DEFAULT_PRICES, Budgets, Limit, Price, RateLimit


class Prices:
    def __init__(self, overrides: Mapping[str, Price]):
        self.table = {**DEFAULT_PRICES, **overrides}

    def cost(self, model_key: str, model_name: str, tokens_in: int, tokens_out: int) -> float:
        p = self.table.get(model_name) or self.table.get(model_key) or self.table["default"]
        return (tokens_in * p.input + tokens_out * p.output) / 1_000_000


@dataclass(slots=True)
class Tally:
    tokens: int = 0
    cost: float = 0.0
    calls: int = 0

    def add(self, tokens: int, cost: float) -> None:
        self.tokens += tokens
        self.cost += cost
        self.calls += 1


def day_of(ts: float) -> int:
    return int(ts // 86_400)


def _over(limit: Limit | None, t: Tally | None, what: str, currency: str) -> str | None:
    if limit is None or t is None:
        return None
    if limit.tokens is not None and t.tokens >= limit.tokens:
        return f"budget exhausted: {what} used {t.tokens} tokens of its {limit.tokens}"
    if limit.cost is not None and t.cost >= limit.cost:
        return (
            f"budget exhausted: {what} spent {t.cost:.4f} {currency} of its"
            f" {limit.cost:.4f} {currency}"
        )
    return None


class Meter:
    """Running totals. Per run they are rebuilt from the journal when a run is
    first seen; per day from the journal when the runtime starts."""

    def __init__(self) -> None:
        self.runs: dict[str, Tally] = {}
        #: Per tree of runs (by its top run's id): a run's budget covers the
        #: runs it started too, so children cannot spend around it.
        self.trees: dict[str, Tally] = {}
        self.agents: dict[str, Tally] = {}
        self.teams: dict[str, Tally] = {}
        self.day = Tally()
        self.day_no = day_of(time.time())

    def roll(self, now: float) -> None:
        """Start a new day's totals when the UTC day has changed."""
        d = day_of(now)
        if d != self.day_no:
            self.day_no, self.day = d, Tally()
            self.agents.clear()
            self.teams.clear()

    def charge(
        self,
        run_id: str,
        agent: str,
        team: str | None,
        tokens: int,
        cost: float,
        now: float,
        root_id: str | None = None,
    ) -> None:
        self.roll(now)
        self.charge_run(run_id, tokens, cost)
        self.charge_tree(root_id or run_id, tokens, cost)
        self.charge_day(agent, team, tokens, cost)

    def charge_run(self, run_id: str, tokens: int, cost: float) -> None:
        _tally(self.runs, run_id).add(tokens, cost)

    def charge_tree(self, root_id: str, tokens: int, cost: float) -> None:
        _tally(self.trees, root_id).add(tokens, cost)

    def open_tree(self, root_id: str) -> None:
        """Start counting a tree's spend (from nothing)."""
        _tally(self.trees, root_id)

    def charge_day(self, agent: str, team: str | None, tokens: int, cost: float) -> None:
        self.day.add(tokens, cost)
        self.agents.setdefault(agent, Tally()).add(tokens, cost)
        if team is not None:
            self.teams.setdefault(team, Tally()).add(tokens, cost)

    def run(self, run_id: str) -> Tally | None:
        return self.runs.get(run_id)

    def exhausted(
        self,
        b: Budgets,
        run_id: str,
        agent: str,
        team: str | None,
        currency: str,
        root_id: str | None = None,
    ) -> str | None:
        """Why a new model call may not start, or None. The run budget is
        every ancestor's too: the tree's spend counts against the top run's
        budget, the tightest of them."""
        self.roll(time.time())
        root = root_id or run_id
        what = f"run {run_id}" if root == run_id else f"the tree of run {root} (this run's root)"
        return (
            _over(b.run, self.trees.get(root), what, currency)
            or _over(b.agents.get(agent), self.agents.get(agent), f"agent {agent} today", currency)
            or (
                _over(b.teams.get(team), self.teams.get(team), f"team {team} today", currency)
                if team is not None
                else None
            )
            or _over(b.day, self.day, "the workspace today", currency)
        )


def _tally(table: dict[str, Tally], key: str) -> Tally:
    t = table.get(key)
    if t is None:
        t = table[key] = Tally()
        if len(table) > 100_000:  # forget the oldest half
            for k in list(table)[:50_000]:
                del table[k]
    return t


class _Bucket:
    __slots__ = ("level", "per_second", "size", "stamp")

    def __init__(self, per_minute: float, now: float):
        self.size = per_minute
        self.per_second = per_minute / 60.0
        self.level = per_minute
        self.stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.size, self.level + (now - self.stamp) * self.per_second)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 if it is now)."""
        return 0.0 if self.level >= amount else (amount - self.level) / self.per_second


class RateLimiter:
    """Requests and tokens per minute, per model key. Tokens are charged after
    the call (its real usage), so a big call may push the bucket below zero
    and the next call waits for it to refill. ``clock`` and ``sleep`` are
    the monotonic clock and the wait (tests inject both)."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        previous: RateLimiter | None = None,
    ):
        self.limits = dict(limits)
        self.clock, self.sleep = clock, sleep
        self._req: dict[str, _Bucket] = {}
        self._tok: dict[str, _Bucket] = {}
        now = clock()
        for key, lim in self.limits.items():
            same = previous is not None and previous.limits.get(key) == lim
            if lim.requests_per_minute:
                old = previous._req.get(key) if same and previous is not None else None
                self._req[key] = old or _Bucket(lim.requests_per_minute, now)
            if lim.tokens_per_minute:
                old = previous._tok.get(key) if same and previous is not None else None
                self._tok[key] = old or _Bucket(lim.tokens_per_minute, now)
        #: Seconds callers spent waiting, in total (for reports and tests).
        self.waited: float = previous.waited if previous is not None else 0.0

    def renewed(self, limits: Mapping[str, RateLimit]) -> RateLimiter:
        """The limiter for a reloaded policy: a limit that did not change
        keeps its bucket (a reload is no way to reset what was spent)."""
        return RateLimiter(limits, clock=self.clock, sleep=self.sleep, previous=self)

    def _key(self, key: str) -> str:
        return key if key in self.limits else "default"

    async def acquire(self, model_key: str) -> None:
        key = self._key(model_key)
        req, tok = self._req.get(key), self._tok.get(key)
        if req is None and tok is None:
            return
        while True:
            now = self.clock()
            wait = 0.0
            if req is not None:
                req.refill(now)
                wait = req.wait_for(1.0)
            if tok is not None:
                tok.refill(now)
                wait = max(wait, tok.wait_for(1.0))
            if wait <= 0:
                if req is not None:
                    req.level -= 1.0
                return
            self.waited += wait
            await self.sleep(wait)

    def spend(self, model_key: str, tokens: int) -> None:
        tok = self._tok.get(self._key(model_key))
        if tok is not None:
            tok.refill(self.clock())
            tok.level -= tokens
