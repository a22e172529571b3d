"""The audit chain: every decision and every effect is recorded, bound to the
journal entries it is about, and any edit, deletion, insertion or reordering
of the log is detected."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from gov_helpers import Ledger, plan, runtime

from orgos.store import audit as audit_sql

POLICY = {"rules": [{"name": "no-big", "when": {"tool": "refund", "args": {"amount": {"gt": 500}}},
                     "decide": "deny", "reason": "refunds above 500 are not allowed"}]}  # fmt: skip


async def make_log(tmp_path: Path) -> Path:
    ledger = Ledger()
    for amount in (10, 900):
        model = plan(
            ("lookup", {"order_id": "A-1"}), ("refund", {"order_id": "A-1", "amount": amount})
        )
        async with runtime(tmp_path, POLICY, model, ledger.tools()) as rt:
            run = await rt.run("clerk", f"refund {amount}", timeout=30)
            assert run.status.value == "succeeded"
    assert ledger.refunds == [{"order_id": "A-1", "amount": 10}]
    return tmp_path / "o.db"


def verify(db: Path) -> audit_sql.Verdict:
    conn = sqlite3.connect(db)
    try:
        return audit_sql.verify(conn)
    finally:
        conn.close()


async def test_decisions_and_effects_are_chained_and_bound_to_the_journal(tmp_path: Path) -> None:
    db = await make_log(tmp_path)
    v = verify(db)
    assert v.ok, v.problems
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT action, data, run_id, step, request_sha, result_sha FROM audit"
                        " ORDER BY seq").fetchall()  # fmt: skip
    actions = [r[0] for r in rows]
    assert actions.count("tool.allow") == 3  # two lookups, one refund
    assert actions.count("tool.deny") == 1
    denied = next(r for r in rows if r[0] == "tool.deny")
    assert "refunds above 500" in denied[1] and '"rule":"no-big"' in denied[1]
    # each syscall's record carries the hashes of its journaled intent and result
    for action, _data, run_id, step, req_sha, res_sha in rows:
        if not action.startswith(("tool.", "llm.")):
            continue
        intent, result = conn.execute(
            "SELECT payload, result FROM journal WHERE run_id=? AND seq=? AND phase='intent'",
            (run_id, step),
        ).fetchone()
        if result is None:
            (result,) = conn.execute("SELECT payload FROM journal WHERE run_id=? AND seq=?"
                                     " AND phase='result'", (run_id, step)).fetchone()  # fmt: skip
        assert req_sha == hashlib.sha256(intent.encode()).hexdigest()
        assert res_sha == hashlib.sha256(result.encode()).hexdigest()
    conn.close()


def _edit(c: sqlite3.Connection) -> None:
    c.execute("UPDATE audit SET data = replace(data, 'no-big', 'ok') WHERE action='tool.deny'")


def _edit_actor(c: sqlite3.Connection) -> None:
    c.execute("UPDATE audit SET actor='agent:someone-else' WHERE seq=3")


def _delete_middle(c: sqlite3.Connection) -> None:
    c.execute("DELETE FROM audit WHERE seq=4")


def _delete_first(c: sqlite3.Connection) -> None:
    c.execute("DELETE FROM audit WHERE seq=1")


def _delete_tail(c: sqlite3.Connection) -> None:
    c.execute("DELETE FROM audit WHERE seq >= (SELECT MAX(seq) - 1 FROM audit)")


def _reorder(c: sqlite3.Connection) -> None:
    cols = "ts, workspace, actor, action, run_id, step, data, request_sha, result_sha, prev, hash"
    a = c.execute(f"SELECT {cols} FROM audit WHERE seq=3").fetchone()
    b = c.execute(f"SELECT {cols} FROM audit WHERE seq=4").fetchone()
    sets = ", ".join(f"{k.strip()}=?" for k in cols.split(","))
    c.execute(f"UPDATE audit SET {sets} WHERE seq=3", (*b,))
    c.execute(f"UPDATE audit SET {sets} WHERE seq=4", (*a,))


def _insert(c: sqlite3.Connection) -> None:
    """A forged record in the middle, with a correctly computed own hash."""
    for (seq,) in c.execute("SELECT seq FROM audit WHERE seq >= 3 ORDER BY seq DESC").fetchall():
        c.execute("UPDATE audit SET seq=? WHERE seq=?", (seq + 1, seq))
    prev = c.execute("SELECT hash FROM audit WHERE seq=2").fetchone()[0]
    rec = (1.0, "default", "agent:clerk", "tool.allow", None, None, '{"forged":1}', None, None)
    h = audit_sql.chain_hash(prev, 3, audit_sql.canonical(*rec))
    c.execute("INSERT INTO audit (seq, ts, workspace, actor, action, run_id, step, data,"
              " request_sha, result_sha, prev, hash) VALUES (3,?,?,?,?,?,?,?,?,?,?,?)",
              (*rec, prev, h))  # fmt: skip


def _rehash_edit(c: sqlite3.Connection) -> None:
    """An edit whose own hash is recomputed: the next record no longer follows."""
    row = c.execute("SELECT ts, workspace, actor, action, run_id, step, data, request_sha,"
                    " result_sha, prev FROM audit WHERE seq=3").fetchone()  # fmt: skip
    rec = (*row[:6], '{"rule":"edited"}', *row[7:9])
    c.execute("UPDATE audit SET data=?, hash=? WHERE seq=3",
              (rec[6], audit_sql.chain_hash(row[9], 3, audit_sql.canonical(*rec))))  # fmt: skip


TAMPERING: dict[str, tuple[Callable[[sqlite3.Connection], None], str]] = {
    "edit a record": (_edit, "edited"),
    "edit an actor": (_edit_actor, "edited"),
    "edit and rehash": (_rehash_edit, "does not follow"),
    "delete in the middle": (_delete_middle, "missing"),
    "delete the first": (_delete_first, "missing"),
    "delete the tail": (_delete_tail, "missing at the end"),
    "reorder two records": (_reorder, "does not follow"),
    "insert a record": (_insert, "does not follow"),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
async def test_tampering_is_detected(tmp_path: Path, how: str) -> None:
    db = await make_log(tmp_path)
    assert verify(db).ok
    tamper, expected = TAMPERING[how]
    conn = sqlite3.connect(db, isolation_level=None)
    tamper(conn)
    conn.close()
    v = verify(db)
    assert not v.ok
    assert any(expected in p for p in v.problems), v.problems


async def test_several_processes_extend_one_chain(tmp_path: Path) -> None:
    """Two runtimes (two workers) on one store write one intact chain."""
    import asyncio

    ledger = Ledger()
    models = [plan(("lookup", {"order_id": f"A-{i}"})) for i in range(2)]
    rts = [runtime(tmp_path, POLICY, m, ledger.tools(), adopt=False) for m in models]
    for rt in rts:
        await rt.start()
    try:
        runs = await asyncio.gather(
            *(rt.run("clerk", f"t{i}", timeout=30) for i, rt in enumerate(rts * 5))
        )
        assert all(r.status.value == "succeeded" for r in runs)
    finally:
        for rt in rts:
            await rt.close()
    v = verify(tmp_path / "o.db")
    assert v.ok and v.records >= 30, v
