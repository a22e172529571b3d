"""How a run ended, as whoever waited for it reads it: one record.

A parent waiting on its children (``wait_runs``, ``wait_any``) gets one
``RunOutcome`` per child; the journal keeps each as the document of
``to_dict`` (``{run_id, target, status, output, error[, tainted]}``), the
shape journals have always held, so a replay reads old journals as new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orgos.store.base import RunRecord, RunStatus


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: str
    #: The agent or workflow the run ran.
    target: str
    status: RunStatus
    output: Any
    error: str | None
    #: A tainted run's outcome says so: whoever reads it reads what it read.
    tainted: bool = False

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    @classmethod
    def of(cls, rec: RunRecord) -> RunOutcome:
        return cls(rec.id, rec.target, rec.status, rec.output, rec.error, rec.tainted)

    def to_dict(self) -> dict[str, Any]:
        """The journaled document."""
        out = {"run_id": self.run_id, "target": self.target, "status": self.status.value,
               "output": self.output, "error": self.error}  # fmt: skip
        if self.tainted:
            out["tainted"] = True
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunOutcome:
        return cls(str(d["run_id"]), str(d["target"]), RunStatus(d["status"]), d.get("output"),
                   d.get("error"), bool(d.get("tainted")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Ended:
    """What ``wait_any`` returns: the awaited runs that had ended when it
    returned, and the time then."""

    ended: list[RunOutcome]
    now: float
