"""A store made before model usage had its own table: opening it copies the
journaled model calls in, with the cost and worker their audit records hold,
so budgets read the same spend as before the upgrade."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from orgos.store.schema import _USAGE, MIGRATIONS, SCHEMA
from orgos.store.sqlite import SQLiteStore

#: The last schema version without the llm_usage table.
BEFORE = SCHEMA.index(_USAGE)


def _intent(run: str, seq: int, model: str | None, ts: float) -> tuple[object, ...]:
    payload = json.dumps({"model": model} if model else {})
    return (run, seq, "intent", "llm", payload, "acme", ts, None, None)


def old_store(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statements in MIGRATIONS[:BEFORE]:
        for stmt in statements:
            conn.execute(stmt)
    conn.execute(f"PRAGMA user_version={BEFORE}")
    conn.executemany(
        "INSERT INTO runs (id, workspace, kind, target, target_version, input, root_id, status,"
        " fence, priority, created_at, updated_at, cancel_requested) VALUES"
        " (?, 'acme', 'agent', ?, 1, NULL, ?, 'succeeded', 0, 0, 1.0, 1.0, 0)",
        [("root", "clerk", "root"), ("kid", "helper", "root")],
    )
    ok = {"ok": {"model": "m-1", "usage": {"input_tokens": 10, "output_tokens": 5}}}
    failed = {"error": "the model is down"}
    rows = [
        # a result stored in its intent's row, and one in a row of its own
        (*_intent("root", 1, "fast", 100.0)[:7], json.dumps(ok), 101.0),
        _intent("kid", 1, None, 200.0),
        ("kid", 1, "result", "llm", json.dumps({"ok": {"usage": {"output_tokens": 3}}}),
         "acme", 201.0, None, None),
        (*_intent("kid", 2, None, 300.0)[:7], json.dumps(failed), 301.0),  # no usage: left out
    ]  # fmt: skip
    conn.executemany(
        "INSERT INTO journal (run_id, seq, phase, kind, payload, workspace, ts, result, result_ts)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.execute(
        "INSERT INTO audit (ts, workspace, actor, action, run_id, step, data, prev, hash)"
        " VALUES (101.0, 'acme', 'agent:boss', 'llm.allow', 'root', 1, ?, '', '')",
        (json.dumps({"tokens": 15, "cost": 0.25, "worker": "w-1"}),),
    )
    conn.close()


async def test_journaled_calls_are_copied_into_usage(tmp_path: Path) -> None:
    old_store(tmp_path / "o.db")
    store = SQLiteStore(tmp_path / "o.db")
    await store.open()
    try:
        calls = await store.usage.llm_usage("acme")
        assert [(u.run_id, u.run_target, u.model_key, u.model, u.input_tokens, u.output_tokens)
                for u in calls] == [("root", "clerk", "fast", "m-1", 10, 5),
                                    ("kid", "helper", "default", "", 0, 3)]  # fmt: skip
        assert [u.run_id for u in await store.usage.llm_usage("acme", root_id="root")] == [
            "root", "kid"]  # fmt: skip
        assert await store.usage.llm_usage("acme", since=150.0) == calls[1:]
        spent = await store.usage.spend_after("acme", 0)
        # the acting agent and the cost from the audit record; none without one
        assert [(s.agent, s.tokens, s.cost, s.worker) for s in spent] == [
            ("boss", 15, 0.25, "w-1"), ("helper", 3, 0.0, None)]  # fmt: skip
    finally:
        await store.close()
