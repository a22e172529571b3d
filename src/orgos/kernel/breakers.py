"""Circuit breakers: the one place for both kinds orgos has.

``CircuitBreaker`` is routing's (``orgos.org.routing``), one per agent: after
``failures`` failed runs in a row, no new work is routed to the agent until
``cooldown`` seconds have passed; then exactly one trial is let through
(half-open), and its outcome closes or reopens it. A trial whose outcome
never comes (it ran on another worker, or was cancelled) is given up on
after another cool-down, and a new one may go.

``WindowBreaker`` is governance's (the policy's ``breaker:``), one per agent:
failed tool calls and spend are counted over a sliding window, and reaching
a limit trips it; governance then pauses the agent (a kill switch), and an
unpaused agent passes one trial run first (``orgos.policy.trial``).

In the kernel layer: routing and governance are services that do not import
each other."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

State = Literal["closed", "open", "half-open"]


@dataclass
class CircuitBreaker:
    failures: int = 3
    cooldown: float = 30.0
    clock: Callable[[], float] = field(default=time.monotonic)
    state: State = "closed"
    consecutive: int = 0
    opened_at: float = 0.0
    #: When the half-open trial was sent (None: none is out).
    trial_at: float | None = None

    def allows(self) -> bool:
        """May work be sent now? Closed: yes; open: not before the cool-down
        has passed (then it is half-open); half-open: only while no trial is out.
        Asking takes nothing: ``admit`` does."""
        now = self.clock()
        if self.state == "open" and now - self.opened_at >= self.cooldown:
            self.state, self.trial_at = "half-open", None
        if self.state == "half-open":
            return self.trial_at is None or now - self.trial_at >= self.cooldown
        return self.state == "closed"

    def admit(self) -> bool:
        """Send one piece of work: for a half-open breaker, its one trial."""
        if not self.allows():
            return False
        if self.state == "half-open":
            self.trial_at = self.clock()
        return True

    def record(self, ok: bool) -> None:
        self.trial_at = None
        if ok:
            self.state, self.consecutive = "closed", 0
            return
        self.consecutive += 1
        if self.state == "half-open" or self.consecutive >= self.failures:
            self.state, self.opened_at = "open", self.clock()


@dataclass
class WindowBreaker:
    """Failed calls and spend within the last ``window`` seconds of one agent."""

    errors: deque[float] = field(default_factory=deque)
    spend: deque[tuple[float, float]] = field(default_factory=deque)

    def note(
        self,
        now: float,
        window: float,
        max_errors: int | None,
        max_cost: float | None,
        currency: str,
        *,
        cost: float = 0.0,
        error: bool = False,
    ) -> str | None:
        """Count a failed call or a spend at ``now``: why the breaker trips, or None."""
        errors, spend = self.errors, self.spend
        if error:
            errors.append(now)
        if cost:
            spend.append((now, cost))
        while errors and errors[0] < now - window:
            errors.popleft()
        while spend and spend[0][0] < now - window:
            spend.popleft()
        why = None
        if max_errors is not None and len(errors) >= max_errors:
            why = f"breaker: {len(errors)} failed tool calls in {window:g} s"
        total = sum(c for _, c in spend)
        if max_cost is not None and total >= max_cost:
            why = f"breaker: spent {total:.4f} {currency} in {window:g} s"
        return why

    def reset(self) -> None:
        self.errors.clear()
        self.spend.clear()
