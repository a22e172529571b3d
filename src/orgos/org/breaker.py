"""A circuit breaker per agent: after ``failures`` failed runs in a row, no
new work is routed to the agent until ``cooldown`` seconds have passed; then
exactly one trial is let through (half-open), and its outcome closes or
reopens it. A trial whose outcome never comes (it ran on another worker, or
was cancelled) is given up on after another cool-down, and a new one may go."""

from __future__ import annotations

import time
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
