"""The bus: durable events, cursors and acknowledgements, keyed publishes,
runs parked until an event, and the built-in run and file events."""

from __future__ import annotations

from pathlib import Path

from ws_helpers import run_code, runtime, submit_parked

from orgos.kernel.context import RunContext
from orgos.result import Result
from orgos.shared import workspace_of
from orgos.store.waiting import WaitEvent


async def test_subscribers_get_every_event_until_they_ack(tmp_path: Path) -> None:
    rt, _ = runtime(tmp_path)
    async with rt:
        bus = rt.bus
        await bus.publish_as("ada", "orders", {"n": 0})  # before the subscription
        await bus.subscribe("billing", "orders")
        ids = [await bus.publish_as("ada", "orders", {"n": i}) for i in range(1, 6)]
        again = await bus.publish_as("ada", "orders", {"n": 1}, key="k")
        assert await bus.publish_as("ada", "orders", {"n": 99}, key="k") == again  # deduplicated
        got = await bus.pending("billing", "orders")
        assert [e.data["n"] for e in got] == [1, 2, 3, 4, 5, 1]
        await bus.ack("billing", "orders", ids[2])
        assert [e.id for e in await bus.pending("billing", "orders")] == [*ids[3:], again]
        await bus.ack("billing", "orders", ids[0])  # a cursor never goes back
        assert (await bus.pending("billing", "orders"))[0].id == ids[3]
        await bus.subscribe("billing", "orders")  # subscribing again keeps the cursor
        assert (await bus.pending("billing", "orders"))[0].id == ids[3]
        await bus.subscribe("audit", "orders", from_start=True)
        assert len(await bus.pending("audit", "orders")) == 7


async def test_a_run_parks_until_its_event_and_publishes_once(tmp_path: Path) -> None:
    async def waiter(ctx: RunContext) -> str:
        bus = workspace_of(ctx).bus
        ev = await bus.wait_event(ctx, "approvals", {"order": "A-*"})
        await bus.publish(ctx, "shipping", {"order": ev.data["order"]})
        return str(ev.data["order"])

    rt, _ = runtime(tmp_path, {"seller": waiter})
    async with rt:
        await rt.bus.subscribe("t", "shipping")
        rid = await submit_parked(rt, "seller")
        parked = await rt.get_run(rid)
        assert parked.owner is None and rid not in rt.kernel.held_runs
        await rt.bus.publish_as("ada", "approvals", {"order": "B-1"})  # does not match
        await rt.bus.publish_as("ada", "approvals", {"order": "A-7"})
        done = await rt.wait(rid, timeout=10)
        assert done.status.value == "succeeded" and done.output == "A-7"
        shipped = await rt.bus.pending("t", "shipping")
        assert [(e.data, e.run_id, e.source) for e in shipped] == [
            ({"order": "A-7"}, rid, "seller")
        ]


async def test_an_event_published_by_another_process_wakes_the_run(tmp_path: Path) -> None:
    async def waiter(ctx: RunContext) -> int:
        ev = await workspace_of(ctx).bus.wait_event(ctx, "go")
        return int(ev.data)

    rt, _ = runtime(tmp_path, {"seller": waiter})
    other, _ = runtime(tmp_path, {}, adopt=False)
    async with rt, other:
        rid = await submit_parked(rt, "seller")
        await other.bus.publish_as("ada", "go", 42)  # another runtime on the same store
        done = await rt.wait(rid, timeout=10)
    assert done.output == 42


async def test_run_lifecycle_and_file_events(tmp_path: Path) -> None:
    async def landing(ctx: RunContext) -> str:
        ws = workspace_of(ctx)
        ev = await ws.bus.wait_event(ctx, "fs.written", {"path": "teams/sales/inbox/*.csv"})
        return str(ev.data["path"])

    async def quick(ctx: RunContext) -> str:
        return "ok"

    rt, _ = runtime(tmp_path, {"seller": landing, "helper": quick})
    async with rt:
        await rt.bus.subscribe("watch", "run.succeeded")
        await rt.bus.subscribe("watch", "run.created")
        rid = await submit_parked(rt, "seller")
        await rt.files.put_as("ada", "teams/sales/inbox/readme.txt", b"not a csv")
        await rt.files.put_as("ada", "teams/sales/inbox/orders.csv", b"a,b\n1,2\n")
        done = await rt.wait(rid, timeout=10)
        assert done.output == "teams/sales/inbox/orders.csv"
        assert await run_code(rt, "helper") == "ok"
        ended = await rt.bus.pending("watch", "run.succeeded")
        created = await rt.bus.pending("watch", "run.created")
    assert [e.data["target"] for e in ended] == ["seller", "helper"]
    assert ended[0].data["run_id"] == rid and ended[0].source == "system"
    assert [e.data["target"] for e in created] == ["seller", "helper"]


async def test_runs_may_not_forge_system_events(tmp_path: Path) -> None:
    async def forger(ctx: RunContext) -> str:
        bus = workspace_of(ctx).bus
        try:
            await bus.publish(ctx, "run.succeeded", {"run_id": "r-fake"})
        except Exception as exc:
            return str(exc)
        return "published"

    rt, audit = runtime(tmp_path, {"seller": forger})
    async with rt:
        assert "reserved for the system" in await run_code(rt, "seller")
    assert [e[1] for e in audit.denied()] == ["publish"]


async def test_an_event_landing_while_the_run_parks_is_not_missed(tmp_path: Path) -> None:
    """The event commits after the run looked and before it recorded its
    wait: no publisher wakes it, the kernel's waker must."""

    async def racer(ctx: RunContext) -> int:
        table = ctx.kernel.store.bus

        async def mark(sc: object) -> Result:
            return Result.of(await table.last_id("default", "race"))

        after = (await ctx.syscall("bus.mark", {"topic": "race"}, mark)).unwrap()

        async def ready() -> Result | None:
            found = await table.after("default", "race", after)
            return Result.of(found[0].id) if found else None

        async def park() -> None:
            await table.publish("default", "race", "late")  # nobody is parked yet
            await table.park("default", ctx.run.id, "race", after)

        def waiting(seq: int) -> WaitEvent:
            return WaitEvent("race", {}, after, seq)

        return int((await ctx.wait_until("bus.wait", {}, ready, waiting, park)).unwrap())

    rt, _ = runtime(tmp_path, {"seller": racer})
    async with rt:
        assert await run_code(rt, "seller", timeout=10) >= 1
