"""What a run receives: one record, built and read through it.

A run's input is stored as a JSON document (``RunRecord.input``). Its keys
were written by the delegating agent (``task``, ``context``, ``from``,
``parent_task``, ``handoff``, ``routed``), the workflow engine (``step``,
``report``; a workflow run's ``workflow``, ``input``, ``tainted``), the
escalation of an approval (``approval``) and the caller (anything else). The
document keeps that shape (``to_dict``/``read``), so stored runs read as
they are; code reads and writes it only through ``RunInput``.

A frozen dataclass with an explicit codec, not a pydantic model: a workflow
of 1,000 branches builds 1,000 of these per fan-out, and validation there
would cost more than the rest of the launch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The keys ``RunInput`` reads; any other key of a stored input is ``extra``.
_KNOWN = frozenset(
    {"task", "context", "from", "parent_task", "handoff", "routed", "report", "step",
     "workflow", "input", "tainted", "approval"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StepOrigin:
    """The workflow step a child run was started for."""

    workflow: str
    step: str
    branch: int
    attempt: int
    iteration: int
    #: It undoes the step (its ``compensate``), rather than doing it.
    compensation: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"workflow": self.workflow, "step": self.step, "branch": self.branch,
                             "attempt": self.attempt, "iteration": self.iteration}  # fmt: skip
        if self.compensation:
            d["compensation"] = True
        return d

    @classmethod
    def read(cls, d: Any) -> StepOrigin | None:
        if not isinstance(d, dict) or "step" not in d:
            return None
        return cls(str(d.get("workflow", "")), str(d["step"]), int(d.get("branch", -1)),
                   int(d.get("attempt", 1)), int(d.get("iteration", 0)),
                   bool(d.get("compensation")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunInput:
    #: What the agent must do.
    task: str | None = None
    #: Facts it is given with the task (text, or data).
    context: Any = None
    #: The agent that delegated the task (stored as ``from``).
    delegated_by: str | None = None
    #: What that agent was working on.
    parent_task: str | None = None
    #: A handoff note from the delegating agent (a dict, or text).
    handoff: Any = None
    #: The delegate's route syscall took the breaker's trial for it.
    routed: bool = False
    #: Answer with a report (data, summary, confidence): a workflow step.
    report: bool = False
    #: The workflow step the run was started for.
    step: StepOrigin | None = None
    #: A workflow run: the spec it runs (``WorkflowSpec`` as JSON) ...
    workflow: dict[str, Any] | None = None
    #: ... and its data.
    input: Any = None
    #: A workflow run whose steps start from untrusted content.
    tainted: bool = False
    #: An escalation run: the approval it decides.
    approval: str | None = None
    #: Keys orgos does not read (a caller's own document), kept as given.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, raw: Any) -> RunInput:
        """The record of a stored input. Text is the task; another value
        that is not a document is the task as its JSON."""
        if isinstance(raw, dict):
            return cls._of(raw)
        if isinstance(raw, str):
            return cls(task=raw)
        return cls(task=json.dumps(raw))

    @classmethod
    def _of(cls, d: dict[str, Any]) -> RunInput:
        g = d.get
        sender, parent, approval = g("from"), g("parent_task"), g("approval")
        return cls(
            task=str(d["task"]) if "task" in d else None,
            context=g("context"),
            delegated_by=None if sender is None else str(sender),
            parent_task=None if parent is None else str(parent),
            handoff=g("handoff"),
            routed=bool(g("routed")),
            report=bool(g("report")),
            step=StepOrigin.read(g("step")),
            workflow=g("workflow"),
            input=g("input"),
            tainted=bool(g("tainted")),
            approval=None if approval is None else str(approval),
            extra={} if d.keys() <= _KNOWN else {k: v for k, v in d.items() if k not in _KNOWN},
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored document: the fields that are set, under their stored keys."""
        d: dict[str, Any] = {}
        if self.workflow is not None:
            d["workflow"] = self.workflow
        if self.input is not None:
            d["input"] = self.input
        if self.task is not None:
            d["task"] = self.task
        if self.context is not None:
            d["context"] = self.context
        if self.delegated_by is not None:
            d["from"] = self.delegated_by
        if self.parent_task is not None:
            d["parent_task"] = self.parent_task
        if self.handoff is not None:
            d["handoff"] = self.handoff
        if self.routed:
            d["routed"] = True
        if self.step is not None:
            d["step"] = self.step.to_dict()
        if self.report:
            d["report"] = True
        if self.tainted:
            d["tainted"] = True
        if self.approval is not None:
            d["approval"] = self.approval
        d.update(self.extra)
        return d
