"""Conformance: the scheduler's claims, children's outcomes, routing's loads."""

from __future__ import annotations

import asyncio
import time

import pytest

from orgos.errors import FencedOut
from orgos.store import InsertRun, RunStatus, Store, UpdateRun
from orgos.testing.conformance._kit import WS, need, run, worker


async def test_candidates_come_by_priority_then_age(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "scheduling")
    w = await worker(store, "w1")
    recs = [run("low1"), run("high", priority=5), run("low2"), run("mid", priority=1)]
    for i, r in enumerate(recs):
        r.created_at = 1000.0 + i
    await store.write_batch(w, [InsertRun(r) for r in recs])
    got = await store.scheduling.candidates(10, None, [WS])
    assert [c.id for c in got] == ["high", "mid", "low1", "low2"]
    assert (got[0].kind, got[0].target, got[0].priority) == ("agent", "a", 5)
    assert [c.id for c in await store.scheduling.candidates(2, None, [WS])] == ["high", "mid"]


async def test_candidates_are_claimable_runs_of_the_workers_workspaces_only(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "scheduling")
    w = await worker(store, "w1")
    await store.write_batch(w, [
        InsertRun(run("mine")), InsertRun(run("theirs", ws="other")),
        InsertRun(run("busy", status=RunStatus.RUNNING, owner=w)),
        InsertRun(run("parked", status=RunStatus.WAITING)),
        InsertRun(run("child", parent=run("root"))),
    ])  # fmt: skip
    assert {c.id for c in await store.scheduling.candidates(10, None, [WS])} == {"mine", "child"}
    assert [c.id for c in await store.scheduling.candidates(10, ["root"], [WS])] == ["child"]
    assert await store.scheduling.candidates(10, [], [WS]) == []
    assert [c.id for c in await store.scheduling.candidates(10, None, ["other"])] == ["theirs"]


async def test_a_candidate_is_claimed_once_and_gets_a_new_fence(
    store: Store, store_repositories: frozenset[str]
) -> None:
    """Two workers claiming the same candidates at once get disjoint runs."""
    need(store_repositories, "scheduling")
    w1, w2 = await worker(store, "w1"), await worker(store, "w2")
    await store.write_batch(w1, [InsertRun(run(f"r{i}")) for i in range(20)])
    ids = [c.id for c in await store.scheduling.candidates(100, None, [WS])]
    now = time.time()
    a, b = await asyncio.gather(
        store.scheduling.claim(w1, ids, now, [WS]), store.scheduling.claim(w2, ids, now, [WS])
    )
    assert sorted([r.id for r in a] + [r.id for r in b]) == sorted(ids)
    assert not {r.id for r in a} & {r.id for r in b}
    for r in a:
        assert (r.owner, r.status, r.fence) == (w1, RunStatus.RUNNING, 1)
    assert await store.scheduling.claim(w1, ids, now, [WS]) == []  # all taken
    assert await store.scheduling.claim(w1, ["r0"], now, ["other"]) == []


async def test_a_fenced_worker_claims_nothing(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "scheduling")
    w = await worker(store, "w1")
    await store.write_batch(w, [InsertRun(run("r1"))])
    await store.workers.fence(w)
    with pytest.raises(FencedOut):
        await store.scheduling.claim(w, ["r1"], 0.0, [WS])
    rec = await store.get_run(WS, "r1")
    assert rec is not None and rec.owner is None and rec.fence == 0


async def test_a_dead_workers_runs_become_candidates(
    store: Store, store_repositories: frozenset[str]
) -> None:
    """A lease that ran out: the claim fences its worker and takes its run."""
    need(store_repositories, "scheduling")
    dead = await worker(store, "dead", ttl=-1.0)
    live = await worker(store, "live")
    await store.write_batch(dead, [InsertRun(run("r1", status=RunStatus.RUNNING, owner=dead))])
    now = time.time()  # past the dead one's lease, not the live one's
    got = await store.scheduling.claim(live, ["r1"], now, [WS])
    assert [(r.id, r.owner, r.fence) for r in got] == [("r1", live, 1)]
    assert {w.id: w.fenced for w in await store.workers.all()}["dead"] is True


async def test_ended_children_outcomes(store: Store, store_repositories: frozenset[str]) -> None:
    need(store_repositories, "children")
    w = await worker(store, "w1")
    root = run("root", status=RunStatus.WAITING)
    kids = [run(f"k{i}", parent=root, status=RunStatus.RUNNING, owner=w) for i in range(3)]
    await store.write_batch(w, [InsertRun(root), *[InsertRun(k) for k in kids]])
    await store.write_batch(w, [
        UpdateRun("k0", RunStatus.SUCCEEDED, output={"n": 0}),
        UpdateRun("k1", RunStatus.FAILED, error="boom", tainted=True),
    ])  # fmt: skip
    got = {o.run_id: o for o in await store.children.ended(WS, ["k0", "k1", "k2", "nope"])}
    assert set(got) == {"k0", "k1"}
    assert got["k0"].to_dict() == {"run_id": "k0", "target": "a", "status": "succeeded",
                                   "output": {"n": 0}, "error": None}  # fmt: skip
    assert got["k1"].to_dict()["tainted"] is True and got["k1"].error == "boom"
    assert await store.children.ended("other", ["k0"]) == []
    many = [f"x{i}" for i in range(6000)]  # more ids than one statement may hold
    assert [o.run_id for o in await store.children.ended(WS, [*many, "k0"])] == ["k0"]


async def test_loads_count_queued_and_running_agent_runs(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "loads")
    w = await worker(store, "w1")
    b = run("b")
    b.target = "b"
    await store.write_batch(w, [
        InsertRun(run("q")), InsertRun(run("r", status=RunStatus.RUNNING, owner=w)),
        InsertRun(run("parked", status=RunStatus.WAITING)),
        InsertRun(run("done", status=RunStatus.SUCCEEDED)),
        InsertRun(b), InsertRun(run("elsewhere", ws="other")),
    ])  # fmt: skip
    assert await store.loads.active_runs(WS, ["a", "b", "c"]) == {"a": 2, "b": 1, "c": 0}
    assert await store.loads.active_runs(WS, []) == {}
