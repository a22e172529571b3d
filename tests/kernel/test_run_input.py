"""What a run receives is read and written through one record, in the shape
stored runs already hold."""

from __future__ import annotations

from typing import Any

import pytest

from orgos.agents.loop import render_task
from orgos.kernel.run_input import RunInput, StepOrigin

STEP = {"workflow": "returns", "step": "check", "branch": 2, "attempt": 1, "iteration": 0}

#: Inputs as orgos writes them: delegated, a workflow step, a compensation,
#: a child workflow, an escalation, and a caller's own document.
STORED: list[dict[str, Any]] = [
    {"task": "find the order", "context": "A-1", "from": "lead", "parent_task": "refund A-1",
     "handoff": {"done": "looked", "next": "check"}, "routed": True},
    {"task": "check it", "step": STEP, "context": {"look": {"data": [1]}}, "report": True},
    {"task": "undo", "context": {"step": "s", "result": None},
     "step": {**STEP, "compensation": True}},
    {"workflow": {"name": "sub", "steps": []}, "input": {"task": "t"}, "step": STEP,
     "tainted": True},
    {"approval": "ap-1"},
    {"order": 42, "lines": [1, 2]},
]  # fmt: skip


@pytest.mark.parametrize("doc", STORED)
def test_a_stored_input_reads_and_writes_back_the_same(doc: dict[str, Any]) -> None:
    assert RunInput.read(doc).to_dict() == doc


def test_the_fields_read() -> None:
    delegated = RunInput.read(STORED[0])
    assert (delegated.task, delegated.delegated_by, delegated.parent_task) == (
        "find the order",
        "lead",
        "refund A-1",
    )
    assert delegated.routed and not delegated.report and delegated.step is None
    step = RunInput.read(STORED[1])
    assert step.report and step.step == StepOrigin("returns", "check", 2, 1, 0)
    assert RunInput.read(STORED[2]).step == StepOrigin("returns", "check", 2, 1, 0, True)
    sub = RunInput.read(STORED[3])
    assert sub.workflow == {"name": "sub", "steps": []} and sub.input == {"task": "t"}
    assert sub.tainted and sub.task is None
    assert RunInput.read(STORED[4]).approval == "ap-1"
    assert RunInput.read(STORED[5]).extra == {"order": 42, "lines": [1, 2]}


def test_what_is_not_a_document_is_the_task() -> None:
    assert RunInput.read("ship it").task == "ship it"
    assert RunInput.read([1, 2]).task == "[1, 2]"
    assert RunInput.read({"task": 7}).task == "7"


def test_the_task_the_agent_is_given() -> None:
    assert render_task(RunInput.read("ship it")) == "ship it"
    assert render_task(RunInput.read(STORED[5])) == '{"order": 42, "lines": [1, 2]}'
    text = render_task(RunInput.read(STORED[0]))
    assert text.startswith("find the order\n\nContext:\nA-1\n\nHandoff from lead:")
    assert text.endswith("(Delegated by agent lead, who is working on: refund A-1)")
