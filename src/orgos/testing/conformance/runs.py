"""Conformance: the runs repository (the store itself): batches, the
journal, group commit visibility, claims, leases and fencing, wakes,
cancellation, agent versions, workspaces."""

from __future__ import annotations

import asyncio
import time

import pytest

from orgos.errors import FencedOut
from orgos.store import (
    Append,
    InsertRun,
    JournalEntry,
    RunFilter,
    RunStatus,
    Store,
    UpdateRun,
)
from orgos.store.waiting import WaitRuns
from orgos.testing.conformance._kit import WS, StoreFactory, run, worker


async def test_batch_roundtrip(store: Store) -> None:
    w = await worker(store, "w1")
    r = run("r1", status=RunStatus.RUNNING, owner=w)
    await store.write_batch(
        w,
        [
            InsertRun(r),
            Append(JournalEntry("r1", 1, "intent", "llm", {"model": "m"}, WS)),
            Append(JournalEntry("r1", 1, "result", "llm", {"ok": {"content": "hi"}}, WS)),
            UpdateRun("r1", RunStatus.SUCCEEDED, output={"answer": 42}),
        ],
    )
    got = await store.get_run(WS, "r1")
    assert got is not None
    assert got.status is RunStatus.SUCCEEDED
    assert got.output == {"answer": 42}
    assert got.input == {"task": "r1"}
    assert got.root_id == "r1"
    entries = await store.load_journal("r1")
    assert [(e.seq, e.phase, e.kind) for e in entries] == [
        (1, "intent", "llm"),
        (1, "result", "llm"),
    ]
    assert entries[1].payload == {"ok": {"content": "hi"}}


async def test_a_runs_taint_is_kept_and_never_taken_back(store: Store) -> None:
    """Taint is set when a run is made (inherited) or when it ends or parks
    (``UpdateRun.tainted``); a later update without it leaves it set."""
    w = await worker(store, "w1")
    await store.write_batch(w, [InsertRun(run("r1", status=RunStatus.RUNNING, owner=w)),
                                InsertRun(run("r2", status=RunStatus.RUNNING, owner=w,
                                              tainted=True))])  # fmt: skip
    await store.write_batch(w, [UpdateRun("r1", RunStatus.WAITING, tainted=True, release=True),
                                UpdateRun("r2", RunStatus.SUCCEEDED)])  # fmt: skip
    await store.write_batch(w, [UpdateRun("r1", RunStatus.SUCCEEDED)])
    for rid in ("r1", "r2"):
        got = await store.get_run(WS, rid)
        assert got is not None and got.status is RunStatus.SUCCEEDED and got.tainted, rid
    listed = await store.list_runs(RunFilter(WS, id_prefix="r"))
    assert sorted((r.id, r.tainted) for r in listed) == [("r1", True), ("r2", True)]


async def test_written_batch_is_visible_to_a_new_connection(store_factory: StoreFactory) -> None:
    a = store_factory()
    await a.open()
    w = await worker(a, "w1")
    await a.write_batch(w, [InsertRun(run("r1"))])
    b = store_factory()
    await b.open()
    try:
        assert (await b.get_run(WS, "r1")) is not None
    finally:
        await b.close()
        await a.close()


async def test_concurrent_batches_of_two_workers_are_each_whole_and_visible(
    store_factory: StoreFactory,
) -> None:
    """Two workers (two stores on one database) commit batches at once:
    every batch is applied whole, and once a worker's write returns, the
    other worker reads it (a result is committed before a run sees it)."""
    a, b = store_factory(), store_factory()
    await a.open()
    await b.open()
    try:
        wa, wb = await worker(a, "wa"), await worker(b, "wb")

        async def write(s: Store, w: str, prefix: str) -> None:
            for i in range(20):
                rid = f"{prefix}{i}"
                await s.write_batch(w, [
                    InsertRun(run(rid, status=RunStatus.RUNNING, owner=w)),
                    Append(JournalEntry(rid, 1, "intent", "tool", {"i": i}, WS)),
                    Append(JournalEntry(rid, 1, "result", "tool", {"ok": i}, WS)),
                    UpdateRun(rid, RunStatus.SUCCEEDED, output=i),
                ])  # fmt: skip
                other = b if s is a else a
                seen = await other.get_run(WS, rid)
                assert seen is not None and seen.status is RunStatus.SUCCEEDED

        await asyncio.gather(write(a, wa, "a"), write(b, wb, "b"))
        for rid in [f"{p}{i}" for p in "ab" for i in range(20)]:
            entries = await a.load_journal(rid)
            assert [(e.phase, e.payload) for e in entries] == [
                ("intent", {"i": int(rid[1:])}),
                ("result", {"ok": int(rid[1:])}),
            ]
    finally:
        await b.close()
        await a.close()


async def test_fenced_worker_cannot_write(store: Store) -> None:
    w = await worker(store, "w1")
    await store.workers.fence(w)
    with pytest.raises(FencedOut):
        await store.write_batch(w, [InsertRun(run("r1"))])
    assert await store.get_run(WS, "r1") is None
    with pytest.raises(FencedOut):
        await store.write_batch("never-registered", [InsertRun(run("r2"))])


async def test_failed_batch_writes_nothing(store: Store) -> None:
    w = await worker(store, "w1")
    await store.write_batch(w, [InsertRun(run("r1"))])
    with pytest.raises(Exception):  # noqa: B017 - the backend's integrity error
        await store.write_batch(
            w,
            [Append(JournalEntry("r1", 1, "intent", "tool", {}, WS)), InsertRun(run("r1"))],
        )
    assert await store.load_journal("r1") == []


async def test_workspaces_are_isolated(store: Store) -> None:
    w = await worker(store, "w1")
    await store.write_batch(w, [InsertRun(run("r1")), InsertRun(run("r2", ws="other"))])
    assert await store.get_run("other", "r1") is None
    assert [r.id for r in await store.list_runs(RunFilter(WS))] == ["r1"]
    assert [r.id for r in await store.list_runs(RunFilter("other"))] == ["r2"]


async def test_list_runs_filters(store: Store) -> None:
    w = await worker(store, "w1")
    root = run("root")
    kid = run("kid", parent=root)
    grandkid = run("gk", parent=kid)
    await store.write_batch(w, [InsertRun(root), InsertRun(kid), InsertRun(grandkid)])
    await store.write_batch(w, [UpdateRun("kid", RunStatus.FAILED, error="boom")])
    assert [r.id for r in await store.list_runs(RunFilter(WS, top_level_only=True))] == ["root"]
    assert [r.id for r in await store.list_runs(RunFilter(WS, parent_id="root"))] == ["kid"]
    assert {r.id for r in await store.list_runs(RunFilter(WS, root_id="root"))} == {
        "root",
        "kid",
        "gk",
    }
    assert [r.id for r in await store.list_runs(RunFilter(WS, id_prefix="ki"))] == ["kid"]
    assert await store.list_runs(RunFilter(WS, id_prefix="%")) == []  # no pattern syntax
    failed = await store.list_runs(RunFilter(WS, statuses=[RunStatus.FAILED]))
    assert [(r.id, r.error) for r in failed] == [("kid", "boom")]


async def test_claim_takes_each_queued_run_once(store: Store) -> None:
    w1 = await worker(store, "w1")
    w2 = await worker(store, "w2")
    await store.write_batch(w1, [InsertRun(run(f"r{i}")) for i in range(10)])
    a, b = await asyncio.gather(
        store.claim_runs(w1, 6, time.time(), workspaces=[WS]),
        store.claim_runs(w2, 6, time.time(), workspaces=[WS]),
    )
    ids_a, ids_b = {r.id for r in a}, {r.id for r in b}
    assert not ids_a & ids_b
    assert len(ids_a | ids_b) == 10
    assert all(r.status is RunStatus.RUNNING and r.owner == w1 for r in a)
    assert all(r.fence == 1 for r in [*a, *b])
    assert await store.claim_runs(w1, 10, time.time(), workspaces=[WS]) == []


async def test_claim_orders_by_priority(store: Store) -> None:
    w = await worker(store, "w1")
    await store.write_batch(
        w,
        [
            InsertRun(run("low")),
            InsertRun(run("high", priority=5)),
            InsertRun(run("mid", priority=1)),
        ],
    )
    assert [r.id for r in await store.claim_runs(w, 2, time.time(), workspaces=[WS])] == [
        "high",
        "mid",
    ]


async def test_dead_workers_runs_move_and_it_is_fenced(store: Store) -> None:
    dead = await worker(store, "dead", ttl=0.0)
    live = await worker(store, "live")
    await store.write_batch(dead, [InsertRun(run("r1", status=RunStatus.RUNNING, owner=dead))])
    claimed = await store.claim_runs(live, 10, time.time() + 1, workspaces=[WS])
    assert [r.id for r in claimed] == ["r1"]
    assert claimed[0].owner == live
    assert claimed[0].fence == 1
    with pytest.raises(FencedOut):
        await store.write_batch(dead, [UpdateRun("r1", RunStatus.SUCCEEDED)])
    assert not await store.workers.renew(dead, time.time() + 60)
    assert await store.workers.renew(live, time.time() + 60)


async def test_live_workers_runs_are_not_claimed(store: Store) -> None:
    a = await worker(store, "a")
    b = await worker(store, "b")
    await store.write_batch(a, [InsertRun(run("r1", status=RunStatus.RUNNING, owner=a))])
    assert await store.claim_runs(b, 10, time.time(), workspaces=[WS]) == []


async def test_remove_worker_releases_its_runs(store: Store) -> None:
    a = await worker(store, "a")
    b = await worker(store, "b")
    await store.write_batch(a, [InsertRun(run("r1", status=RunStatus.RUNNING, owner=a))])
    await store.workers.remove(a)
    assert [r.id for r in await store.claim_runs(b, 10, time.time(), workspaces=[WS])] == ["r1"]
    assert [w.id for w in await store.workers.all()] == ["b"]


async def test_wake_waits_for_every_child(store: Store) -> None:
    w = await worker(store, "w")
    parent = run("p", status=RunStatus.RUNNING, owner=w)
    kids = [run("k1", parent=parent), run("k2", parent=parent)]
    await store.write_batch(w, [InsertRun(parent), *(InsertRun(k) for k in kids)])
    await store.write_batch(
        w, [UpdateRun("p", RunStatus.WAITING, waiting_on=WaitRuns(("k1", "k2"), 1), release=True)]
    )
    await store.write_batch(w, [UpdateRun("k1", RunStatus.SUCCEEDED)])
    assert not await store.wake_if_ready(WS, "p")
    assert await store.wake_all_ready([WS]) == 0
    await store.write_batch(w, [UpdateRun("k2", RunStatus.FAILED, error="x")])
    assert await store.wake_if_ready(WS, "p")
    assert not await store.wake_if_ready(WS, "p")  # only once
    got = await store.get_run(WS, "p")
    assert got is not None and got.status is RunStatus.QUEUED and got.owner is None


async def test_wake_for_any_child_and_the_ended_hint(store: Store) -> None:
    w = await worker(store, "w")
    parent = run("p", status=RunStatus.RUNNING, owner=w)
    kids = [run(f"k{i}", parent=parent) for i in range(3)]
    await store.write_batch(w, [InsertRun(parent), *(InsertRun(k) for k in kids)])
    waiting = WaitRuns(("k0", "k1"), 1, any=True)
    await store.write_batch(
        w, [UpdateRun("p", RunStatus.WAITING, waiting_on=waiting, release=True)]
    )
    # k2 is not waited for: neither it ending nor a hint naming it wakes p
    await store.write_batch(w, [UpdateRun("k2", RunStatus.SUCCEEDED)])
    assert not await store.wake_if_ready(WS, "p", ended="k2")
    assert not await store.wake_if_ready(WS, "p")
    await store.write_batch(w, [UpdateRun("k1", RunStatus.SUCCEEDED)])
    assert await store.wake_if_ready(WS, "p", ended="k1")  # one is enough
    assert not await store.wake_if_ready(WS, "p", ended="k1")  # only once
    got = await store.get_run(WS, "p")
    assert got is not None and got.status is RunStatus.QUEUED


async def test_wake_all_ready_sweeps(store: Store) -> None:
    w = await worker(store, "w")
    parent = run("p")
    kid = run("k", parent=parent, status=RunStatus.SUCCEEDED)
    await store.write_batch(w, [InsertRun(parent), InsertRun(kid)])
    await store.write_batch(w, [UpdateRun("p", RunStatus.WAITING, waiting_on=WaitRuns(("k",), 1))])
    assert await store.wake_all_ready([WS]) == 1


async def test_cancel_cascades(store: Store) -> None:
    w = await worker(store, "w")
    root = run("root", status=RunStatus.RUNNING, owner=w)
    kid = run("kid", parent=root)
    gk = run("gk", parent=kid, status=RunStatus.RUNNING, owner=w)
    done = run("done", parent=root, status=RunStatus.SUCCEEDED)
    await store.write_batch(w, [InsertRun(r) for r in (root, kid, gk, done)])
    ids = await store.request_cancel(WS, "root")
    assert set(ids) == {"root", "kid", "gk"}
    kid_now = await store.get_run(WS, "kid")
    assert kid_now is not None and kid_now.status is RunStatus.CANCELLED
    assert set(await store.cancel_requests(w)) == {"root", "gk"}
    done_now = await store.get_run(WS, "done")
    assert done_now is not None and done_now.status is RunStatus.SUCCEEDED
    assert await store.request_cancel("other-workspace", "root") == []


async def test_requeue(store: Store) -> None:
    w = await worker(store, "w")
    await store.write_batch(w, [InsertRun(run("r", status=RunStatus.FAILED, error="x"))])
    assert await store.requeue(WS, "r")
    got = await store.get_run(WS, "r")
    assert got is not None and got.status is RunStatus.QUEUED and got.error is None
    assert not await store.requeue(WS, "r")  # queued runs are not requeued again


async def test_agent_versions(store: Store) -> None:
    v1 = await store.agents.put_version(WS, "a", "d1", {"name": "a", "x": 1})
    same = await store.agents.put_version(WS, "a", "d1", {"name": "a", "x": 1})
    v2 = await store.agents.put_version(WS, "a", "d2", {"name": "a", "x": 2})
    other = await store.agents.put_version("other", "a", "d9", {"name": "a"})
    assert (v1.version, same.version, v2.version, other.version) == (1, 1, 2, 1)
    latest = await store.agents.get_version(WS, "a")
    first = await store.agents.get_version(WS, "a", 1)
    assert latest is not None and latest.version == 2 and latest.spec == {"name": "a", "x": 2}
    assert first is not None and first.spec == {"name": "a", "x": 1}
    assert await store.agents.get_version(WS, "nope") is None


async def test_big_batches(store: Store) -> None:
    w = await worker(store, "w")
    ops: list[InsertRun | Append] = []
    for i in range(2000):
        ops.append(InsertRun(run(f"r{i}")))
        ops.append(Append(JournalEntry(f"r{i}", 1, "intent", "llm", {"i": i}, WS)))
    await store.write_batch(w, ops)  # type: ignore[arg-type]
    assert len(await store.list_runs(RunFilter(WS, limit=5000))) == 2000
    assert (await store.load_journal("r1999"))[0].payload == {"i": 1999}


async def test_journal_reads_the_same_however_it_was_batched(store: Store) -> None:
    w = await worker(store, "w")
    await store.write_batch(w, [InsertRun(run("a")), InsertRun(run("b"))])
    intent = {"tool": "t", "arguments": {"x": 1}}
    result = {"ok": True, "value": 2}
    for rid, batches in (("a", 1), ("b", 2)):
        i = Append(JournalEntry(rid, 1, "intent", "tool", intent, WS, 1.0))
        r = Append(JournalEntry(rid, 1, "result", "tool", result, WS, 2.0))
        if batches == 1:
            await store.write_batch(w, [i, r])
        else:
            await store.write_batch(w, [i])
            await store.write_batch(w, [r])
    a, b = await store.load_journal("a"), await store.load_journal("b")
    assert [(e.seq, e.phase, e.payload, e.ts) for e in a] == [
        (1, "intent", intent, 1.0),
        (1, "result", result, 2.0),
    ]
    assert [(e.phase, e.payload, e.ts) for e in a] == [(e.phase, e.payload, e.ts) for e in b]


async def test_claim_can_be_limited_to_run_trees(store: Store) -> None:
    w = await worker(store, "w")
    mine, other = run("mine"), run("other")
    kid = run("kid", parent=mine)
    await store.write_batch(w, [InsertRun(mine), InsertRun(other), InsertRun(kid)])
    assert await store.claim_runs(w, 10, time.time(), roots=[], workspaces=[WS]) == []
    claimed = await store.claim_runs(w, 10, time.time(), roots=["mine"], workspaces=[WS])
    assert sorted(r.id for r in claimed) == ["kid", "mine"]
    assert [r.id for r in await store.claim_runs(w, 10, time.time(), workspaces=[WS])] == ["other"]


async def test_claims_and_wakes_see_only_the_workers_workspaces(store: Store) -> None:
    w = await worker(store, "w")
    parent = run("p", ws="other")
    kid = run("k", ws="other", parent=parent, status=RunStatus.SUCCEEDED)
    await store.write_batch(w, [InsertRun(run("theirs", ws="other")), InsertRun(parent)])
    await store.write_batch(w, [InsertRun(kid), InsertRun(run("ours"))])
    await store.write_batch(w, [UpdateRun("p", RunStatus.WAITING, waiting_on=WaitRuns(("k",), 1))])
    assert [r.id for r in await store.claim_runs(w, 10, time.time(), workspaces=[WS])] == ["ours"]
    assert await store.claim_runs(w, 10, time.time(), roots=["theirs"], workspaces=[WS]) == []
    assert await store.wake_all_ready([WS]) == 0
    assert not await store.wake_if_ready(WS, "p")
    parked = await store.get_run("other", "p")
    assert parked is not None and parked.status is RunStatus.WAITING
    both = await store.claim_runs(w, 10, time.time(), workspaces=[WS, "other"])
    assert [r.id for r in both] == ["theirs"]
    with pytest.raises(ValueError, match="at least one workspace"):
        await store.claim_runs(w, 10, time.time(), workspaces=[])


async def test_tree_size_counts_a_trees_runs(store: Store) -> None:
    w = await worker(store, "w1")
    root = run("root")
    kid = run("kid", parent=root)
    await store.write_batch(w, [InsertRun(root), InsertRun(kid), InsertRun(run("gk", parent=kid)),
                                InsertRun(run("alone"))])  # fmt: skip
    assert await store.tree_size(WS, "root") == 3
    assert await store.tree_size(WS, "alone") == 1
    assert await store.tree_size("other", "root") == 0


async def test_each_claim_of_a_run_bumps_its_fence(store: Store) -> None:
    """A run taken over from a dead worker carries a higher fence token than
    the one its first owner held."""
    first = await worker(store, "first", ttl=60.0)
    await store.write_batch(first, [InsertRun(run("r1"))])
    got = await store.claim_runs(first, 1, time.time(), workspaces=[WS])
    assert [(r.id, r.fence) for r in got] == [("r1", 1)]
    second = await worker(store, "second", ttl=600.0)
    later = time.time() + 120.0  # past the first worker's lease, not the second's
    again = await store.claim_runs(second, 1, later, workspaces=[WS])
    assert [(r.id, r.owner, r.fence) for r in again] == [("r1", "second", 2)]
    with pytest.raises(FencedOut):
        await store.write_batch(first, [UpdateRun("r1", RunStatus.SUCCEEDED)])
