"""A circuit breaker per agent: after ``failures`` failed runs in a row, no
new work is routed to the agent until ``cooldown`` seconds have passed; then
one trial is let through (half-open), and its outcome closes or reopens it."""

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

    def allows(self) -> bool:
        """May work be sent now? (An open breaker turns half-open after the cool-down.)"""
        if self.state == "open" and self.clock() - self.opened_at >= self.cooldown:
            self.state = "half-open"
        return self.state != "open"

    def record(self, ok: bool) -> None:
        if ok:
            self.state, self.consecutive = "closed", 0
            return
        self.consecutive += 1
        if self.state == "half-open" or self.consecutive >= self.failures:
            self.state, self.opened_at = "open", self.clock()
