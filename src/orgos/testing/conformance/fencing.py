"""Conformance: per-run fencing. A batch carries the fence token each of its
runs was claimed with; one that writes for a run another worker claimed
since is refused whole, naming that run (``orgos.store.fencing``)."""

from __future__ import annotations

import time

import pytest

from orgos.errors import FencedOut
from orgos.store import Append, InsertRun, JournalEntry, RunStatus, Store, UpdateRun
from orgos.testing.conformance._kit import WS, run, worker


def _entry(rid: str, seq: int) -> Append:
    return Append(JournalEntry(rid, seq, "intent", "tool", {"n": seq}, WS))


async def _taken_over(store: Store) -> tuple[str, str]:
    """Run r1 claimed by w1 (fence 1), parked, woken and claimed by w2
    (fence 2), w1 never fenced: its fence on r1 alone is stale."""
    w1, w2 = await worker(store, "w1"), await worker(store, "w2")
    await store.write_batch(w1, [InsertRun(run("r1"))])
    [got] = await store.claim_runs(w1, 1, time.time(), workspaces=[WS])
    assert got.fence == 1
    await store.write_batch(w1, [UpdateRun("r1", RunStatus.WAITING, release=True)], {"r1": 1})
    assert await store.requeue(WS, "r1")
    [again] = await store.claim_runs(w2, 1, time.time(), workspaces=[WS])
    assert (again.owner, again.fence) == (w2, 2)
    return w1, w2


async def test_a_write_for_a_run_claimed_since_is_refused_and_writes_nothing(
    store: Store,
) -> None:
    w1, w2 = await _taken_over(store)
    with pytest.raises(FencedOut) as err:
        await store.write_batch(
            w1,
            [_entry("r1", 1), UpdateRun("r1", RunStatus.SUCCEEDED), InsertRun(run("other"))],
            {"r1": 1},
        )
    assert err.value.runs == frozenset({"r1"})
    assert await store.load_journal("r1") == []
    assert await store.get_run(WS, "other") is None
    rec = await store.get_run(WS, "r1")
    assert rec is not None and (rec.status, rec.owner, rec.fence) == (RunStatus.RUNNING, w2, 2)
    # The worker that holds the claim writes.
    await store.write_batch(w2, [_entry("r1", 1), UpdateRun("r1", RunStatus.SUCCEEDED)], {"r1": 2})
    rec = await store.get_run(WS, "r1")
    assert rec is not None and rec.status is RunStatus.SUCCEEDED
    assert [e.seq for e in await store.load_journal("r1")] == [1]


async def test_only_the_runs_claimed_since_are_named(store: Store) -> None:
    w1, _ = await _taken_over(store)
    await store.write_batch(w1, [InsertRun(run("r2", status=RunStatus.RUNNING, owner=w1))])
    with pytest.raises(FencedOut) as err:
        await store.write_batch(w1, [_entry("r2", 1), _entry("r1", 1)], {"r1": 1, "r2": 0})
    assert err.value.runs == frozenset({"r1"})
    await store.write_batch(w1, [_entry("r2", 1)], {"r1": 1, "r2": 0})  # r2's own claim holds
    assert [e.seq for e in await store.load_journal("r2")] == [1]


async def test_a_child_made_by_a_run_claimed_since_is_refused(store: Store) -> None:
    w1, _ = await _taken_over(store)
    parent = await store.get_run(WS, "r1")
    assert parent is not None
    with pytest.raises(FencedOut) as err:
        await store.write_batch(w1, [InsertRun(run("kid", parent=parent))], {"r1": 1})
    assert err.value.runs == frozenset({"r1"})
    assert await store.get_run(WS, "kid") is None


async def test_a_write_for_a_run_the_worker_holds_no_claim_on_is_not_checked_per_run(
    store: Store,
) -> None:
    """A decision recorded for a parked run is no claimed write: only the
    worker's own fence is checked."""
    w1, _ = await _taken_over(store)
    await store.write_batch(w1, [_entry("r1", 1)], {})
    assert [e.seq for e in await store.load_journal("r1")] == [1]
    await store.workers.fence(w1)
    with pytest.raises(FencedOut) as err:
        await store.write_batch(w1, [_entry("r1", 2)], {"r1": 1})
    assert err.value.runs == frozenset()  # the worker itself is fenced
