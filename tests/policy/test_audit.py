"""The audit chain: every decision and every effect is recorded, bound to the
journal entries it is about, and any edit, deletion, insertion or reordering
of the log is detected."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from gov_helpers import VAULT_KEY, Ledger, plan, runtime
from stores import store_for

from orgos import Agent, Runtime
from orgos.policy import Governance, PolicySpec
from orgos.store import audit as audit_sql
from orgos.store.waiting import WaitDecision
from orgos.tools.base import Tool

#: Every test here reads or alters the SQLite file of its store.
pytestmark = pytest.mark.sqlite_file

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


# --- the chain vouches for the journal ------------------------------------------------------
def tamper(db: Path, *sql: str) -> None:
    """The attacker: plain SQL on the store file, as any writer of it could."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for s in sql:
            conn.execute(s)
    finally:
        conn.close()


async def test_rewritten_tool_arguments_in_the_journal_break_verify(tmp_path: Path) -> None:
    db = await make_log(tmp_path)
    tamper(db, "UPDATE journal SET payload = replace(payload, '\"amount\":10}', '\"amount\":9000}')"
               " WHERE kind='tool' AND phase='intent' AND payload LIKE '%\"refund\"%'")  # fmt: skip
    v = verify(db)
    assert not v.ok
    assert any("its journaled request does not match audit record" in p for p in v.problems), v


async def test_rewritten_tool_result_in_the_journal_breaks_verify(tmp_path: Path) -> None:
    db = await make_log(tmp_path)
    tamper(db, "UPDATE journal SET result = replace(result, 'RF-1', 'RF-999')"
               " WHERE result LIKE '%RF-1%'")  # fmt: skip
    v = verify(db)
    assert not v.ok
    assert any("its journaled result does not match audit record" in p for p in v.problems), v


async def test_a_deleted_journal_is_reported_but_not_one_retention_removed(
    tmp_path: Path,
) -> None:
    from orgos.config.access import RetentionSpec
    from orgos.fs.blobs import BlobStore
    from orgos.retention import apply_retention
    from orgos.store.sqlite import SQLiteStore

    db = await make_log(tmp_path)
    conn = sqlite3.connect(db)
    first, second = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY created_at")]
    conn.close()
    tamper(db, f"DELETE FROM journal WHERE run_id='{first}'")
    v = verify(db)
    assert any(f"run {first} step" in p and "missing (deleted)" in p for p in v.problems), v

    store = SQLiteStore(db)
    await store.open()
    try:  # retention removes the other run (every run is older than 1 day then)
        tamper(db, f"UPDATE runs SET updated_at = 0 WHERE id='{second}'")
        rep = await apply_retention(store, BlobStore(tmp_path / "blobs"),
                                    RetentionSpec(journal_days=1))  # fmt: skip
        assert rep.runs == 1
    finally:
        await store.close()
    v = verify(db)
    assert not any(second in p for p in v.problems), v.problems
    assert any(first in p for p in v.problems)


async def test_a_call_journaled_before_it_runs_has_its_request_in_the_audit(
    tmp_path: Path,
) -> None:
    """A call that is not safe to repeat commits its intent before it runs,
    in an earlier batch than its audit record: the record still vouches for it."""
    from orgos import tool

    @tool
    def charge(amount: int) -> str:
        """Charge (no key: not safe to repeat)."""
        return f"charged {amount}"

    async with runtime(tmp_path, POLICY, plan(("charge", {"amount": 7})), [charge]) as rt:
        assert (await rt.run("clerk", "charge", timeout=30)).status.value == "succeeded"
    db = tmp_path / "o.db"
    conn = sqlite3.connect(db)
    req, res = conn.execute("SELECT request_sha, result_sha FROM audit WHERE action='tool.allow'"
                            ).fetchone()  # fmt: skip
    conn.close()
    assert req is not None and res is not None
    tamper(db, "UPDATE journal SET payload = replace(payload, '7', '7000')"
               " WHERE kind='tool' AND phase='intent'")  # fmt: skip
    assert any("request does not match" in p for p in verify(db).problems)


# --- anchoring the head ---------------------------------------------------------------------
def _truncate_and_hide(c: sqlite3.Connection) -> None:
    c.execute("DELETE FROM audit WHERE seq >= (SELECT MAX(seq) - 1 FROM audit)")
    c.execute("UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM audit) WHERE name='audit'")


async def test_a_hidden_truncation_is_caught_by_the_head_kept_elsewhere(tmp_path: Path) -> None:
    db = await make_log(tmp_path)
    conn = sqlite3.connect(db)
    kept = audit_sql.head(conn)
    conn.close()
    assert kept[0] > 2
    conn = sqlite3.connect(db, isolation_level=None)
    _truncate_and_hide(conn)
    try:
        assert audit_sql.verify(conn).ok  # what the chain alone can tell: nothing
        v = audit_sql.verify(conn, head=kept)
        assert not v.ok
        assert any("before the head you kept" in p for p in v.problems), v.problems
    finally:
        conn.close()


async def test_a_rewritten_chain_does_not_reach_the_head_kept_elsewhere(tmp_path: Path) -> None:
    db = await make_log(tmp_path)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        kept = audit_sql.head(conn)
        _rebuild_chain(conn, edit="no-big", to="ok")
        assert audit_sql.verify(conn).ok  # keyless: a full rewrite verifies
        v = audit_sql.verify(conn, head=kept)
        assert any("not the head you kept" in p for p in v.problems), v.problems
    finally:
        conn.close()


def _rebuild_chain(c: sqlite3.Connection, edit: str, to: str) -> None:
    """The attacker rewrites records and recomputes every hash (no key)."""
    prev = audit_sql.GENESIS
    cols = "ts, workspace, actor, action, run_id, step, data, request_sha, result_sha"
    for seq, *rec in c.execute(f"SELECT seq, {cols} FROM audit ORDER BY seq").fetchall():
        if rec[6] is not None:
            rec[6] = rec[6].replace(edit, to)
        h = audit_sql.chain_hash(prev, seq, audit_sql.canonical(*rec))
        c.execute("UPDATE audit SET data=?, prev=?, hash=?, mac=NULL WHERE seq=?",
                  (rec[6], prev, h, seq))  # fmt: skip
        prev = h


# --- a keyed chain --------------------------------------------------------------------------
async def test_a_keyed_chain_cannot_be_rewritten_without_the_key(tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(b"a key the attacker does not have")
    policy = {**POLICY, "audit": {"key_file": str(key_file)}}
    model = plan(("refund", {"order_id": "A-1", "amount": 900}))
    async with runtime(tmp_path, policy, model, Ledger().tools()) as rt:
        assert (await rt.run("clerk", "refund", timeout=30)).status.value == "succeeded"
    key = key_file.read_bytes()
    conn = sqlite3.connect(tmp_path / "o.db", isolation_level=None)
    try:
        v = audit_sql.verify(conn, key=key)
        assert v.ok and v.sealed == v.records > 0, v
        assert not audit_sql.verify(conn, key=b"another key").ok
        _rebuild_chain(conn, edit="not allowed", to="fine")
        assert audit_sql.verify(conn).ok  # keyless, the rewrite would pass
        v = audit_sql.verify(conn, key=key)
        assert not v.ok
        assert any("no record is sealed with the audit key" in p for p in v.problems), v
    finally:
        conn.close()


async def test_a_forged_record_appended_to_a_keyed_chain_is_not_sealed(tmp_path: Path) -> None:
    key = b"the workspace's audit key"
    model = plan(("lookup", {"order_id": "A-1"}))
    tools = Ledger().tools()
    gov = Governance(PolicySpec.model_validate(POLICY), vault_key=VAULT_KEY, audit_key=key)
    async with Runtime(store=store_for(tmp_path), agents=[Agent(name="clerk", tools=["lookup"])],
                       tools=tools, models=model, governance=gov) as rt:  # fmt: skip
        assert (await rt.run("clerk", "look", timeout=30)).status.value == "succeeded"
    conn = sqlite3.connect(tmp_path / "o.db", isolation_level=None)
    try:
        rec = (2.0, "default", "person:ana", "approval.approved", None, None, "{}", None, None)
        audit_sql.append(conn, [rec])  # a well-chained record, without the key
        assert audit_sql.verify(conn).ok
        v = audit_sql.verify(conn, key=key)
        assert any("not sealed with the audit key" in p for p in v.problems), v.problems
    finally:
        conn.close()


# --- decisions on calls in doubt --------------------------------------------------------------
async def _in_doubt(tmp_path: Path) -> tuple[str, Tool]:
    """A run whose worker left while its charge (not safe to repeat) was in flight."""
    from orgos import tool

    started = asyncio.Event()

    @tool
    async def charge(amount: int) -> str:
        """Charge the customer (no idempotency key)."""
        started.set()
        await asyncio.Event().wait()  # the worker goes away meanwhile
        return "charged"

    async with runtime(tmp_path, None, plan(("charge", {"amount": 5})), [charge]) as rt:
        rec = await rt.submit("clerk", "charge 5")
        await asyncio.wait_for(started.wait(), 10)
    return rec.id, charge


async def test_an_in_doubt_decision_needs_an_approver_and_is_audited_with_who(
    tmp_path: Path,
) -> None:
    run_id, charge = await _in_doubt(tmp_path)
    async with runtime(tmp_path, None, plan(("charge", {"amount": 5})), [charge]) as rt:
        gov = rt.governance
        assert gov is not None
        for name, role in (("ana", "operator"), ("vic", "viewer")):
            await gov.store.people.set_role("default", name, role, "local")
        parked = await rt.wait(run_id, timeout=10)
        assert isinstance(parked.waiting_on, WaitDecision)
        for who in ("vic", "local"):  # a viewer, and nobody once there are people
            with pytest.raises(PermissionError, match="may not decide"):
                await rt.control.decide(run_id, "done", "charged by hand", by=who)
        await rt.control.decide(run_id, "done", "charged by hand", by="ana")
        assert (await rt.wait(run_id, timeout=10)).status.value == "succeeded"
    db = tmp_path / "o.db"
    conn = sqlite3.connect(db)
    actor, data, req, res = conn.execute(
        "SELECT actor, data, request_sha, result_sha FROM audit WHERE action='decision.done'"
    ).fetchone()
    (said,) = conn.execute("SELECT payload FROM journal WHERE phase='decision'").fetchone()
    intent, result = conn.execute("SELECT j.payload, r.payload FROM journal j JOIN journal r"
                                  " ON r.run_id=j.run_id AND r.seq=j.seq AND r.phase='result'"
                                  " WHERE j.phase='intent' AND j.kind='tool'").fetchone()  # fmt: skip
    conn.close()
    assert actor == "ana" and '"by":"ana"' in data and '"by":"ana"' in said
    assert req == hashlib.sha256(intent.encode()).hexdigest()
    assert res == hashlib.sha256(result.encode()).hexdigest() and "charged by hand" in result
    assert verify(db).ok

    tamper(db, "UPDATE journal SET payload = replace(payload, 'ana', 'vic') WHERE phase='decision'")
    assert any("differs from its audit record" in p for p in verify(db).problems)


async def test_a_retry_decision_forged_into_the_journal_is_reported(tmp_path: Path) -> None:
    run_id, _charge = await _in_doubt(tmp_path)
    tamper(db := tmp_path / "o.db",
           "INSERT INTO journal (run_id, seq, phase, kind, payload, workspace, ts) VALUES"
           f" ('{run_id}', 2, 'decision', 'tool', '{{\"action\":\"retry\",\"by\":\"ana\"}}',"
           " 'default', 1.0)")  # fmt: skip
    v = verify(db)
    assert any(f"run {run_id} step 2: a decision in the journal has no audit record" in p
               for p in v.problems), v.problems  # fmt: skip
