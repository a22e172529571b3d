"""What the engine knows about each step while a workflow runs.

All of it is rebuilt on replay from journaled syscall results, so none of it
is stored anywhere but in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from orgos.config.workflow import StepSpec, WorkflowSpec
from orgos.store.outcome import RunOutcome

Status = Literal["pending", "running", "succeeded", "failed", "skipped", "compensated"]
SETTLED = frozenset({"succeeded", "failed", "skipped", "compensated"})

#: How many branch summaries a dependent step gets as context (all the data).
MAX_SUMMARIES = 20


@dataclass(slots=True)
class Attempt:
    """A child run the engine started and has not seen end."""

    step: str
    branch: int  # -1: the step has no for_each
    attempt: int
    agent: str | None
    deadline: float | None = None
    compensation: bool = False


@dataclass(slots=True)
class Retry:
    """An attempt to start at ``not_before`` (a failed one's retry, after backoff)."""

    step: str
    branch: int
    agent: str | None
    not_before: float


@dataclass
class StepState:
    spec: StepSpec
    status: Status = "pending"
    #: for_each: the items; otherwise one branch, index -1.
    items: list[Any] | None = None
    results: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    tried: dict[int, list[str]] = field(default_factory=dict)
    iteration: int = 0
    #: Per branch: why its gate sent the last output back (the next try is told).
    feedback: dict[int, str] = field(default_factory=dict)
    gate_failures: dict[int, int] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    #: A child of this step read untrusted content (its outcome said so):
    #: whatever is made from this step's results carries the taint.
    tainted: bool = False

    @property
    def branches(self) -> list[int]:
        return list(range(len(self.items))) if self.items is not None else [-1]

    def view(self) -> dict[str, Any]:
        """What expressions see as ``steps.<id>``."""
        r = self.result or {}
        v = {
            "status": self.status,
            "output": r.get("data"),
            "summary": r.get("summary"),
            "confidence": r.get("confidence"),
            "agent": r.get("agent"),
            "error": self.error,
        }
        if self.items is not None:
            v["branches"] = r.get("branches")
            v["failed"] = r.get("failed", 0)
        if self.spec.loop is not None:
            v["iterations"] = self.iteration
        return v

    def context(self) -> dict[str, Any]:
        """What a dependent step gets: the data, and what the agent made of it."""
        r = self.result or {}
        if self.items is None:
            return {"status": self.status, "summary": r.get("summary"),
                    "confidence": r.get("confidence"), "data": r.get("data"),
                    **({"error": self.error} if self.error else {})}  # fmt: skip
        branches = [b for b in (r.get("branches") or []) if b]
        return {
            "status": self.status,
            "branches": len(self.items),
            "failed": r.get("failed", 0),
            "summaries": [b.get("summary") for b in branches[:MAX_SUMMARIES]],
            "confidence": _mean([b.get("confidence") for b in branches]),
            "data": r.get("data"),
        }


def _mean(values: list[Any]) -> float | None:
    nums = [float(v) for v in values if isinstance(v, int | float)]
    return round(sum(nums) / len(nums), 3) if nums else None


def step_result(outcome: RunOutcome, *, reports: bool, kind: str) -> dict[str, Any]:
    """A child's output as a step result: data, summary, confidence, agent."""
    out = outcome.output
    agent = outcome.target
    if kind == "agent" and reports and isinstance(out, dict) and "data" in out:
        return {"data": out.get("data"), "summary": str(out.get("summary") or ""),
                "confidence": confidence(out.get("confidence")),
                "agent": agent, "run_id": outcome.run_id}  # fmt: skip
    summary = out if isinstance(out, str) and len(out) <= 400 else ""
    return {"data": out, "summary": summary, "confidence": None, "agent": agent,
            "run_id": outcome.run_id}  # fmt: skip


def confidence(value: Any) -> float | None:
    """A confidence in 0..1 (a value above 1 and up to 100 is a percent)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    v = float(value) / 100 if 1 < value <= 100 else float(value)
    return round(min(1.0, max(0.0, v)), 3)


def fan_in(state: StepState) -> dict[str, Any]:
    """The result of a for_each step from its branches (index order)."""
    branches = [state.results.get(i) for i in state.branches]
    return {
        "data": [b.get("data") if b else None for b in branches],
        "branches": branches,
        "failed": sum(1 for b in branches if b is None),
        "summary": f"{len(branches)} branches",
        "confidence": _mean([b.get("confidence") for b in branches if b]),
        "agent": None,
    }


def upstream(spec: WorkflowSpec, sid: str) -> frozenset[str]:
    """The steps whose results step ``sid`` can read: its needs, theirs, and so
    on (the workflow checker refuses expressions that read any other step)."""
    needs = {s.id: s.needs for s in spec.steps}
    seen: set[str] = set()
    todo = list(needs.get(sid, []))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(needs.get(n, []))
    return frozenset(seen)
