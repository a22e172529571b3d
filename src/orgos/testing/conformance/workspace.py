"""Conformance: the shared workspace's repositories (bus, files, blobs, memory)."""

from __future__ import annotations

import hashlib

import pytest

from orgos.errors import NotFound
from orgos.store import InsertRun, RunStatus, Store
from orgos.store.records import Embedding
from orgos.testing.conformance._kit import WS, need, run, worker


# --- bus ------------------------------------------------------------------------------
async def test_events_come_in_order_and_a_key_publishes_once(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "bus")
    bus = store.bus
    ids = [(await bus.publish(WS, "orders", {"n": i}, source="shop")).id for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    first = await bus.publish(WS, "orders", {"n": 9}, key="k1", run_id="r1", tainted=True)
    again = await bus.publish(WS, "orders", {"n": 10}, key="k1")
    assert first.new and not again.new and again.id == first.id
    got = await bus.after(WS, "orders", ids[1], limit=10)
    assert [e.id for e in got] == [*ids[2:], first.id]
    last = got[-1]
    assert (last.data, last.key, last.run_id, last.tainted) == ({"n": 9}, "k1", "r1", True)
    assert (got[0].data, got[0].source, got[0].tainted) == ({"n": 2}, "shop", False)
    assert [e.id for e in await bus.after(WS, "orders", 0, limit=2)] == ids[:2]
    assert await bus.last_id(WS, "orders") == first.id
    assert await bus.last_id(WS, "nothing") == 0
    assert await bus.get(WS, ids[0]) == (await bus.after(WS, "orders", 0, 1))[0]
    assert await bus.get("other", ids[0]) is None  # another workspace's event
    assert await bus.after("other", "orders", 0) == []
    many = await bus.publish_many(WS, "batch", [({"i": 1}, "a"), ({"i": 2}, None), (3, "a")], "x")
    assert many[0] == many[2] and many[1] > many[0]


async def test_cursors_move_forward_only(store: Store, store_repositories: frozenset[str]) -> None:
    need(store_repositories, "bus")
    bus = store.bus
    assert await bus.acked(WS, "billing", "orders") is None
    await bus.set_cursor(WS, "billing", "orders", 5, only_new=True)
    await bus.set_cursor(WS, "billing", "orders", 9, only_new=True)  # exists: left alone
    assert await bus.acked(WS, "billing", "orders") == 5
    await bus.set_cursor(WS, "billing", "orders", 7)
    await bus.set_cursor(WS, "billing", "orders", 6)  # never back
    assert await bus.acked(WS, "billing", "orders") == 7
    assert await bus.acked("other", "billing", "orders") is None


async def test_a_parked_run_wakes_on_its_topic_only(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "bus")
    w = await worker(store, "w1")
    await store.write_batch(w, [InsertRun(run("r1", status=RunStatus.WAITING)),
                                InsertRun(run("r2", status=RunStatus.WAITING))])  # fmt: skip
    mark = await store.bus.last_id(WS, "go")
    await store.bus.park(WS, "r1", "go", mark)
    await store.bus.park(WS, "r2", "other", mark)
    assert not await store.bus.wake_if_event(WS, "r1")  # nothing came yet
    await store.bus.publish(WS, "go", None)  # the publish queues r1
    r1, r2 = await store.get_run(WS, "r1"), await store.get_run(WS, "r2")
    assert r1 is not None and r1.status is RunStatus.QUEUED and r1.owner is None
    assert r2 is not None and r2.status is RunStatus.WAITING
    await store.bus.unpark(WS, "r1")


async def test_an_event_that_came_before_the_park_is_found(
    store: Store, store_repositories: frozenset[str]
) -> None:
    """The race between looking, a publish, and parking: the waker and the
    sweep find the event after the run's mark."""
    need(store_repositories, "bus")
    w = await worker(store, "w1")
    await store.write_batch(w, [InsertRun(run("r1", status=RunStatus.WAITING)),
                                InsertRun(run("r2", status=RunStatus.WAITING))])  # fmt: skip
    mark = await store.bus.last_id(WS, "go")
    await store.bus.publish(WS, "go", "early")  # nobody parked yet
    await store.bus.park(WS, "r1", "go", mark)
    await store.bus.park(WS, "r2", "go", mark)
    assert await store.bus.wake_if_event(WS, "r1")
    assert not await store.bus.wake_if_event(WS, "r1")  # queued already
    assert await store.bus.wake_all("other") == 0
    assert await store.bus.wake_all(WS) == 1  # r2
    r2 = await store.get_run(WS, "r2")
    assert r2 is not None and r2.status is RunStatus.QUEUED


async def test_run_lifecycle_events_are_on_the_bus(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "bus")
    w = await worker(store, "w1")
    await store.write_batch(w, [InsertRun(run("r1"))])
    created = await store.bus.after(WS, "run.created", 0)
    assert [e.run_id for e in created] == ["r1"] and created[0].data["target"] == "a"


# --- files and blobs ----------------------------------------------------------------
async def test_file_versions(store: Store, store_repositories: frozenset[str]) -> None:
    need(store_repositories, "files")
    files = store.files
    v1 = await files.put(WS, "teams/a/x.md", "b1", 3, "agent", "writer", run_id="r1", seq=2)
    v2 = await files.put(WS, "teams/a/x.md", "b2", 5, "person", "ada", tainted=True)
    await files.put(WS, "teams/a/y.md", "b3", 7, "agent", "writer")
    await files.put(WS, "teams/ab/z.md", "b4", 11, "agent", "writer")
    assert (v1.version.version, v2.version.version, v1.new) == (1, 2, True)
    latest = await files.get(WS, "teams/a/x.md")
    assert latest is not None and (latest.version, latest.blob, latest.size) == (2, "b2", 5)
    assert latest.tainted and (latest.author_kind, latest.author) == ("person", "ada")
    old = await files.get(WS, "teams/a/x.md", 1)
    assert old is not None and (old.blob, old.run_id) == ("b1", "r1")
    assert await files.get(WS, "teams/a/x.md", 3) is None
    assert await files.get("other", "teams/a/x.md") is None
    assert [v.path for v in await files.latest(WS, "teams/a")] == ["teams/a/x.md", "teams/a/y.md"]
    assert len(await files.latest(WS)) == 3
    assert await files.usage(WS, "teams/a") == 12 and await files.usage(WS) == 23
    assert [v.version for v in await files.history(WS, "teams/a/x.md")] == [1, 2]
    gone = await files.put(WS, "teams/a/y.md", None, 0, "agent", "writer")
    assert gone.version.blob is None
    assert [v.path for v in await files.latest(WS, "teams/a")] == ["teams/a/x.md"]
    if "bus" in store_repositories:  # each version is announced in its transaction
        written = await store.bus.after(WS, "fs.written", 0, 100)
        assert [e.data["version"] for e in written] == [1, 2, 1, 1, 2]
        assert written[-1].data["deleted"] is True and written[1].tainted


async def test_a_keyed_write_is_made_once(store: Store, store_repositories: frozenset[str]) -> None:
    need(store_repositories, "files")
    a = await store.files.put(WS, "k.txt", "b", 1, "system", "t", key="r1:3")
    b = await store.files.put(WS, "k.txt", "c", 2, "system", "t", key="r1:3")
    assert a.new and not b.new and a.version == b.version
    assert len(await store.files.history(WS, "k.txt")) == 1


async def test_lineage_names_what_the_writer_had_read(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "files")
    files = store.files
    await files.put(WS, "in.txt", "b0", 1, "person", "ada")
    await files.record_read(WS, "r1", 1, "in.txt", 1)
    await files.record_read(WS, "r1", 1, "in.txt", 1)  # recorded once
    await files.put(WS, "out.txt", "b1", 1, "agent", "w", run_id="r1", seq=2)
    await files.record_read(WS, "r1", 3, "late.txt", 1)  # after the write: not its input
    lin = await files.lineage(WS, "out.txt", 1)
    assert lin is not None and lin.version.run_id == "r1"
    assert [(r.path, r.version) for r in lin.read] == [("in.txt", 1)]
    assert lin.to_dict()["read"] == [{"path": "in.txt", "version": 1}]
    assert await files.lineage(WS, "out.txt", 9) is None


async def test_blobs_are_content_addressed(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "blobs")
    blobs = store.blobs
    data = b"exactly these bytes"
    digest = await blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await blobs.put(data) == digest and blobs.exists(digest)
    assert await blobs.get(digest) == data
    assert (digest, len(data)) in list(blobs.all_digests())
    assert blobs.mtime(digest) > 0
    assert blobs.remove(digest) == len(data) and not blobs.exists(digest)
    assert blobs.remove(digest) == 0
    with pytest.raises(NotFound):
        await blobs.get(digest)


# --- memory ---------------------------------------------------------------------------
async def test_keyword_recall_by_scope(store: Store, store_repositories: frozenset[str]) -> None:
    need(store_repositories, "memory")
    mem = store.memory
    a = await mem.add(WS, "org", "Refunds over 500 euros need a manager", author="agent:x")
    await mem.add(WS, "team:sales", "Refunds are paid within five days", author="agent:y")
    await mem.add(WS, "org", "The office cat is called Pixel", author="agent:x", tainted=True)
    await mem.add("other", "org", "Refunds are forbidden", author="agent:z")
    found = await mem.search(WS, ["org"], "how are refunds handled?", 5)
    assert [m.id for m in found] == [a.id]
    both = await mem.search(WS, ["org", "team:sales"], "refunds", 5)
    assert len(both) == 2 and all(m.score > 0 for m in both)
    assert await mem.search(WS, [], "refunds") == []
    cat = await mem.search(WS, ["org"], "cat", 5)
    assert [m.tainted for m in cat] == [True]
    assert await mem.count(WS) == 3 and await mem.count("other") == 1


async def test_a_keyed_memory_is_kept_once(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "memory")
    first = await store.memory.add(WS, "org", "one", author="t", key="r1:2")
    again = await store.memory.add(WS, "org", "two", author="t", key="r1:2")
    assert first.new and not again.new and again.id == first.id
    got = await store.memory.by_ids(WS, [first.id, 999_999])
    assert list(got) == [first.id] and got[first.id].text == "one"
    assert await store.memory.by_ids("other", [first.id]) == {}


async def test_vector_recall_is_by_cosine_per_model(
    store: Store, store_repositories: frozenset[str]
) -> None:
    need(store_repositories, "memory")
    mem = store.memory
    north = await mem.add(WS, "org", "north", author="t", vector=Embedding("m", [1.0, 0.0]))
    east = await mem.add(WS, "org", "east", author="t", vector=Embedding("m", [0.0, 1.0]))
    await mem.add(WS, "org", "other model", author="t", vector=Embedding("n", [1.0, 0.0]))
    await mem.add(WS, "team:x", "hidden", author="t", vector=Embedding("m", [1.0, 0.0]))
    got = await mem.search_vector(WS, ["org"], "m", [0.9, 0.1], 5)
    assert [m.id for m in got] == [north.id, east.id] and got[0].score > got[1].score
    late = await mem.add(WS, "org", "late", author="t", vector=Embedding("m", [0.6, 0.8]))
    got = await mem.search_vector(WS, ["org"], "m", [0.6, 0.8], 1)  # added after a search
    assert [m.id for m in got] == [late.id]
