"""Conformance: approvals, kill switches and secrets, usage, the audit
chain, people and tokens, retention."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from orgos.errors import FencedOut, NotFound
from orgos.store import Append, InsertRun, JournalEntry, RunStatus, Store, UpdateRun
from orgos.store.base import Usage
from orgos.store.records import Approval, AuditEntry, Notice, Prune
from orgos.testing.conformance._kit import WS, need, run, worker


def approval(aid: str, run_id: str = "r1", step: int = 3, **kw: object) -> Approval:
    a = Approval(aid, WS, run_id, step, "clerk", "tool", {"call": {"tool": "pay"}}, "big",
                 "over 100", "pending", "olga", 0, None, time.time())  # fmt: skip
    return replace(a, **kw)  # type: ignore[arg-type]


async def _actions(store: Store) -> list[str]:
    return [r.action for r in await store.audit.rows()]


# --- approvals -----------------------------------------------------------------------
async def test_an_approval_is_asked_once_per_call(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "approvals")
    a = await store.approvals.create(approval("ap-1"))
    again = await store.approvals.create(approval("ap-2"))  # the same run and step
    assert again.id == a.id == "ap-1"
    assert await store.approvals.get(WS, "r1", 3) == a
    assert await store.approvals.get("other", "r1", 3) is None
    await store.approvals.create(approval("ap-3", step=4))
    assert [x.id for x in await store.approvals.list(WS)] == ["ap-1", "ap-3"]
    assert [x.id for x in await store.approvals.list(WS, id_prefix="ap-3")] == ["ap-3"]
    assert await store.approvals.list("other") == []
    if "audit" in store_repositories:
        assert await _actions(store) == ["approval.requested", "approval.requested"]


async def test_a_decision_is_made_once_and_journaled(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "approvals")
    w = await worker(store, "w1")
    await store.write_batch(w, [InsertRun(run("r1", status=RunStatus.WAITING))])
    await store.approvals.create(approval("ap-1"))
    assert not await store.approvals.decide("other", "ap-1", "approved", "olga", None, None)
    assert await store.approvals.decide(WS, "ap-1", "approved", "olga", "ok", {"amount": 50})
    assert not await store.approvals.decide(WS, "ap-1", "denied", "ivan", None, None)
    a = await store.approvals.get(WS, "r1", 3)
    assert a is not None and (a.status, a.decided_by, a.note) == ("approved", "olga", "ok")
    assert a.arguments == {"amount": 50} and a.decided_at is not None
    assert await store.approvals.list(WS) == []  # pending only
    decided = [e for e in await store.load_journal("r1") if e.phase == "decision"]
    assert [(e.seq, e.kind, e.payload["by"]) for e in decided] == [(3, "approval", "olga")]


async def test_an_approved_call_asks_again_when_edited(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "approvals")
    a = await store.approvals.create(approval("ap-1"))
    again = replace(a, request={"call": {"tool": "pay", "edited": True}}, rule="bigger")
    assert not await store.approvals.reopen(again)  # not approved yet
    await store.approvals.decide(WS, "ap-1", "approved", "olga", None, {"x": 1})
    assert await store.approvals.reopen(again)
    got = await store.approvals.get(WS, "r1", 3)
    assert got is not None and (got.status, got.rule, got.arguments) == ("pending", "bigger", None)
    assert got.request == again.request and got.decided_by is None


async def test_escalation_moves_once_and_announces(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "approvals")
    await store.approvals.create(approval("ap-1"))

    def notice(a: Approval) -> Notice:
        return Notice("approvals.escalated", {"approval": a.id, "to": a.assignee})

    moved = await store.approvals.escalate(WS, "ap-1", "ivan", 99.0, expected=0, notice=notice)
    assert moved is not None and (moved.assignee, moved.escalations, moved.due_at) == (
        "ivan", 1, 99.0)  # fmt: skip
    # a second worker moving it from the same step moves nothing
    assert await store.approvals.escalate(WS, "ap-1", "zoe", None, expected=0) is None
    if "bus" in store_repositories:
        got = await store.bus.after(WS, "approvals.escalated", 0)
        assert [e.data for e in got] == [{"approval": "ap-1", "to": "ivan"}]
    assert await store.approvals.mark_asked(WS, "ap-1", 1)
    assert not await store.approvals.mark_asked(WS, "ap-1", 1)  # noted already
    a = await store.approvals.get(WS, "r1", 3)
    assert a is not None and a.request["asked"] == 1 and a.request["call"] == {"tool": "pay"}


# --- kill switches and secrets --------------------------------------------------------
async def test_switches(store: Store, store_repositories: frozenset[str]) -> None:
    need(store_repositories, "governance")
    g = store.governance
    assert await g.set_switch(WS, "agent:clerk", True, "too many refunds", "olga")
    assert not await g.set_switch(WS, "agent:clerk", True, "again", "olga")
    assert await g.switches(WS) == {"agent:clerk": "too many refunds"}
    assert await g.switches("other") == {}
    assert not await g.replace_switch(WS, "agent:clerk", "wrong", "x", "breaker")
    assert await g.replace_switch(WS, "agent:clerk", "too many refunds", "trial", "breaker")
    assert await g.replace_switch(WS, "agent:clerk", "trial", None, "breaker")
    assert await g.switches(WS) == {}
    assert await g.set_switch(WS, "all", True, "", "olga")
    assert await g.set_switch(WS, "all", False, "", "olga")
    assert not await g.set_switch(WS, "all", False, "", "olga")
    if "audit" in store_repositories:
        assert await _actions(store) == ["switch.pause", "switch.pause", "switch.resume",
                                         "switch.pause", "switch.resume"]  # fmt: skip


async def test_secrets(store: Store, store_repositories: frozenset[str]) -> None:
    need(store_repositories, "governance")
    g = store.governance
    await g.put_secret(WS, "b", b"\x00cipher", "olga")
    await g.put_secret(WS, "a", b"one", "olga")
    await g.put_secret(WS, "a", b"two", "olga")
    assert await g.secret(WS, "a") == b"two" and await g.secret(WS, "b") == b"\x00cipher"
    assert await g.secret("other", "a") is None
    assert await g.secret_names(WS) == ["a", "b"]


# --- usage ----------------------------------------------------------------------------
async def test_usage_is_recorded_with_its_batch(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "usage")
    w = await worker(store, "w1")
    root = run("root", status=RunStatus.RUNNING, owner=w)
    kid = run("kid", parent=root, status=RunStatus.RUNNING, owner=w)
    await store.write_batch(w, [InsertRun(root), InsertRun(kid)])
    now = time.time()
    await store.write_batch(w, [
        Append(JournalEntry("root", 1, "result", "llm", {"ok": {}}, WS)),
        Usage(WS, "root", 1, "a", "default", "m-1", 10, 5, 0.5, w, now),
        Usage(WS, "kid", 1, "helper", "fast", "m-2", 3, 1, 0.25, "w2", now),
    ])  # fmt: skip
    calls = await store.usage.llm_usage(WS)
    assert [(u.run_id, u.run_target, u.model_key, u.model, u.input_tokens, u.output_tokens)
            for u in calls] == [("root", "a", "default", "m-1", 10, 5),
                                ("kid", "a", "fast", "m-2", 3, 1)]  # fmt: skip
    assert [u.run_id for u in await store.usage.llm_usage(WS, run_id="kid")] == ["kid"]
    assert len(await store.usage.llm_usage(WS, root_id="root")) == 2
    assert await store.usage.llm_usage(WS, since=now + 60) == []
    assert await store.usage.llm_usage("other") == []
    day = await store.usage.day_usage(WS, now - 60)
    assert len(day.calls) == 2
    assert await store.usage.spend_after(WS, day.seq) == []
    spent = await store.usage.spend_after(WS, 0)
    assert [(s.agent, s.tokens, s.cost, s.worker) for s in spent] == [
        ("a", 15, 0.5, w), ("helper", 4, 0.25, "w2")]  # fmt: skip
    assert spent[0].seq < spent[1].seq <= day.seq


async def test_a_fenced_batch_records_no_usage(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "usage")
    w = await worker(store, "w1")
    await store.write_batch(w, [InsertRun(run("r1", status=RunStatus.RUNNING, owner=w))])
    await store.workers.fence(w)
    with pytest.raises(FencedOut):
        await store.write_batch(w, [Usage(WS, "r1", 1, "a", "k", "m", 1, 1, 0.1)])
    assert await store.usage.llm_usage(WS) == []


# --- the audit chain -----------------------------------------------------------------
async def test_the_audit_chain_grows_and_verifies(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "audit")
    audit = store.audit
    empty = await audit.head()
    assert empty.seq == 0 and (await audit.verify()).ok
    await audit.record(AuditEntry(WS, "olga", "policy.loaded", data={"digest": "d1"}))
    await audit.record(AuditEntry(WS, "kernel", "x.one"), AuditEntry("other", "ivan", "x.two"))
    rows = await audit.rows()
    assert [(r.seq, r.workspace, r.actor, r.action) for r in rows] == [
        (1, WS, "olga", "policy.loaded"),
        (2, WS, "kernel", "x.one"),
        (3, "other", "ivan", "x.two"),
    ]
    assert rows[1].prev == rows[0].hash and rows[2].prev == rows[1].hash
    assert [r.seq for r in await audit.rows(after=2)] == [3]
    head = await audit.head()
    assert (head.seq, head.hash) == (3, rows[2].hash)
    v = await audit.verify(head=head)
    assert v.ok and v.records == 3 and v.seq == 3 and v.head == head.hash
    assert not (await audit.verify(head=replace(head, hash="0" * 64))).ok


async def test_a_keyed_chain_is_sealed(store: Store, store_repositories: frozenset[str]) -> None:
    need(store_repositories, "audit")
    store.audit.set_key(lambda: b"k3y")
    await store.audit.record(AuditEntry(WS, "olga", "x.sealed"))
    v = await store.audit.verify(key=b"k3y")
    assert v.ok and v.sealed == 1
    assert not (await store.audit.verify(key=b"another key")).ok


# --- people and tokens ---------------------------------------------------------------
async def test_people_and_tokens(store: Store, store_repositories: frozenset[str]) -> None:
    need(store_repositories, "people")
    people = store.people
    await people.set_role(WS, "ana", "viewer", "root")
    await people.set_role(WS, "olga", "admin", "root")
    await people.set_role(WS, "ana", "approver", "root")
    assert await people.roles(WS) == {"ana": "approver", "olga": "admin"}
    assert await people.roles("other") == {}
    with pytest.raises(NotFound):
        await people.add_token("h-x", "nobody", WS, "root")
    t1 = await people.add_token("h-1", "ana", WS, "root", expires_at=time.time() + 60)
    t2 = await people.add_token("h-2", "ana", WS, "root")
    got = await people.token("h-1")
    assert got == t1 and got is not None and got.state(time.time()) == "active"
    assert got.state(time.time() + 120) == "expired"
    assert await people.token("h-none") is None
    assert [t.id for t in await people.tokens(WS)] == [t1.id, t2.id]
    assert await people.revoke_token(WS, t1.id, "olga")
    assert not await people.revoke_token(WS, t1.id, "olga")
    assert not await people.revoke_token("other", t2.id, "olga")
    revoked = await people.token("h-1")
    assert revoked is not None and revoked.state(time.time()) == "revoked"
    await people.set_role(WS, "ana", None, "root")  # removed: every token revoked, for good
    assert "ana" not in await people.roles(WS)
    await people.set_role(WS, "ana", "viewer", "root")
    back = await people.token("h-2")
    assert back is not None and back.revoked_at is not None
    with pytest.raises(ValueError):
        await people.set_role(WS, "not a name!", "viewer", "root")


# --- retention ------------------------------------------------------------------------
async def test_retention_prunes_ended_trees_only(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "retention")
    w = await worker(store, "w1")
    old, live = run("old", status=RunStatus.RUNNING, owner=w), run("live", status=RunStatus.QUEUED)
    await store.write_batch(
        w,
        [
            InsertRun(old),
            InsertRun(live),
            Append(JournalEntry("old", 1, "intent", "tool", {"a": 1}, WS)),
        ],
    )
    await store.write_batch(w, [UpdateRun("old", RunStatus.SUCCEEDED, output=1)])
    later = time.time() + 10 * 86_400
    dry = await store.retention.prune(Prune(journal_days=1), later, dry_run=True)
    assert (dry.runs, dry.journal_entries) == (1, 1) and dry.journal_bytes > 0
    assert await store.get_run(WS, "old") is not None  # dry: nothing removed
    done = await store.retention.prune(Prune(journal_days=1), later)
    assert done.runs == 1
    assert await store.get_run(WS, "old") is None and await store.load_journal("old") == []
    assert await store.get_run(WS, "live") is not None
    if "audit" in store_repositories:
        assert "retention.pruned" in await _actions(store)


async def test_retention_keeps_the_latest_file_version(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "retention")
    need(store_repositories, "files")
    for blob in ("b1", "b2", "b3"):
        await store.files.put(WS, "doc.txt", blob, 1, "person", "ada")
    p = await store.retention.prune(Prune(file_versions=1), time.time())
    assert p.file_versions == 2 and "b3" in p.live_blobs and "b1" not in p.live_blobs
    assert [v.version for v in await store.files.history(WS, "doc.txt")] == [3]
