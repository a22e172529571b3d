"""The typed records between the layers keep the stored JSON that stores and
journals have always held: a store or a journal written before reads back the same."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import pytest

from orgos.store import InsertRun, RunRecord, RunStatus, Store, UpdateRun, WorkerInfo
from orgos.store.outcome import RunOutcome
from orgos.store.sqlite import SQLiteStore
from orgos.store.waiting import (
    WaitApproval,
    WaitDecision,
    WaitEvent,
    Waiting,
    WaitPaused,
    WaitRuns,
    from_stored,
    to_stored,
)

#: Each record, and the document orgos wrote for it before the records existed.
SHAPES: list[tuple[Waiting, dict[str, Any]]] = [
    (WaitRuns(("a", "b"), 3), {"runs": ["a", "b"], "seq": 3}),
    (
        WaitRuns(("a",), 4, any=True, until=12.5),
        {"runs": ["a"], "any": True, "seq": 4, "until": 12.5},
    ),
    (WaitRuns((), 2, any=True, until=9.0), {"runs": [], "any": True, "seq": 2, "until": 9.0}),
    (
        WaitDecision(5, "tool", {"tool": "charge"}, 2),
        {"decision": {"seq": 5, "kind": "tool", "request": {"tool": "charge"}, "attempt": 2}},
    ),
    (
        WaitDecision(6, "escalate", {"step": "s"}),
        {"decision": {"seq": 6, "kind": "escalate", "request": {"step": "s"}}},
    ),
    (
        WaitApproval("ap-1", 7, "tool", {"tool": "refund"}, "over 100", "olga"),
        {
            "approval": {
                "id": "ap-1",
                "seq": 7,
                "kind": "tool",
                "request": {"tool": "refund"},
                "reason": "over 100",
                "assignee": "olga",
            }
        },
    ),
    (WaitPaused("agent:clerk"), {"paused": "agent:clerk"}),
    (
        WaitEvent("orders", {"id": 1}, 40, 8),
        {"event": {"topic": "orders", "match": {"id": 1}, "after": 40}, "seq": 8},
    ),
]


@pytest.mark.parametrize(("record", "doc"), SHAPES)
def test_a_wait_is_stored_in_the_shape_stores_hold(record: Waiting, doc: dict[str, Any]) -> None:
    assert to_stored(record) == doc
    assert list(to_stored(record) or {}) == list(doc)  # the same keys, in the same order
    assert from_stored(doc) == record


def test_no_wait_and_an_unknown_one() -> None:
    assert to_stored(None) is None
    assert from_stored(None) is None
    assert from_stored({}) is None
    with pytest.raises(ValueError, match="not a stored wait"):
        from_stored({"later": 1})


async def test_a_store_keeps_each_wait_as_the_json_of_before(store: Store) -> None:
    """Every record reads back equal, and the row holds the JSON orgos wrote before."""
    wid = "w"
    await store.workers.register(WorkerInfo(wid, "host", 1, time.time() + 60))
    for i, (record, doc) in enumerate(SHAPES):
        rid = f"r{i}"
        rec = RunRecord(rid, "acme", "agent", "a", 1, {"task": rid}, root_id=rid,
                        status=RunStatus.RUNNING, owner=wid)  # fmt: skip
        await store.write_batch(wid, [InsertRun(rec)])
        await store.write_batch(wid, [UpdateRun(rid, RunStatus.WAITING, waiting_on=record)])
        got = await store.get_run("acme", rid)
        assert got is not None and got.waiting_on == record
        if isinstance(store, SQLiteStore):  # the column holds the JSON of before
            with sqlite3.connect(store.path) as conn:
                (text,) = conn.execute("SELECT waiting_on FROM runs WHERE id=?", (rid,)).fetchone()
            assert json.loads(text) == doc


def test_an_outcome_is_journaled_in_the_shape_journals_hold() -> None:
    plain = RunOutcome("r1", "clerk", RunStatus.SUCCEEDED, {"n": 1}, None)
    doc = {"run_id": "r1", "target": "clerk", "status": "succeeded", "output": {"n": 1},
           "error": None}  # fmt: skip
    assert plain.to_dict() == doc and plain.ok
    assert RunOutcome.from_dict(doc) == plain
    tainted = RunOutcome("r2", "web", RunStatus.FAILED, None, "boom", tainted=True)
    assert tainted.to_dict() == {**doc, "run_id": "r2", "target": "web", "status": "failed",
                                 "output": None, "error": "boom", "tainted": True}  # fmt: skip
    assert RunOutcome.from_dict(tainted.to_dict()) == tainted and not tainted.ok
