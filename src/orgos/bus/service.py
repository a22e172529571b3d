"""Publishing and waiting, for runs (syscalls) and for everything else.

Events are rows in the store. A publish from a run is keyed by run and step,
so replaying it, or re-executing it after a crash, never makes a second
event. Subscribers read from their cursor and acknowledge what they handled:
delivery is at least once, and the event id tells a redelivery apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orgos.errors import OrgosError
from orgos.globs import glob_match
from orgos.kernel.context import RunContext
from orgos.kernel.kernel import Kernel
from orgos.kernel.syscall import Syscall, Verdict
from orgos.result import Result
from orgos.store.base import RunRecord
from orgos.store.records import BusEvent
from orgos.store.repos import BusRepo
from orgos.store.waiting import WaitEvent

#: Topics only the system publishes to (run lifecycle, file writes).
SYSTEM_PREFIXES = ("run.", "fs.", "approvals.")
MAX_TOPIC = 200


def check_topic(topic: object) -> str:
    if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC:
        raise OrgosError(f"a topic is a non-empty string of at most {MAX_TOPIC} characters")
    if not all(c.isalnum() or c in "._-/:" for c in topic):
        raise OrgosError(f"topic {topic[:80]!r}: use letters, digits and . _ - / :")
    return topic


def matches(event: BusEvent, match: Mapping[str, Any] | None) -> bool:
    """Every key of ``match`` equals the event's data field; strings are globs."""
    if not match:
        return True
    data = event.data if isinstance(event.data, dict) else {}
    for k, want in match.items():
        have = data.get(k)
        if isinstance(want, str) and isinstance(have, str):
            if not glob_match(want, have):
                return False
        elif have != want:
            return False
    return True


class Bus:
    def __init__(self, table: BusRepo, kernel: Kernel, workspace: str) -> None:
        self.table = table
        self.kernel = kernel
        self.workspace = workspace

    # --- the kernel side -----------------------------------------------------------
    async def check(self, sc: Syscall) -> Verdict | None:
        """Before-hook: runs may not forge system events."""
        if sc.kind != "publish":
            return None
        topic = sc.request.get("topic")
        try:
            check_topic(topic)
        except OrgosError as exc:
            return Verdict.deny(str(exc))
        if str(topic).startswith(SYSTEM_PREFIXES):
            return Verdict.deny(f"topic {topic!r} is reserved for the system")
        return None

    async def waker(self, run: RunRecord) -> bool:
        """After a run parks: if it waits for an event that came meanwhile, queue it."""
        if type(run.waiting_on) is not WaitEvent:
            return False
        return await self.table.wake_if_event(run.workspace, run.id)

    # --- syscalls (runs) ----------------------------------------------------------------
    async def publish(self, ctx: RunContext, topic: str, data: Any = None) -> int:
        """Publish an event; returns its id (the same id on replay)."""
        run = ctx.run

        async def execute(sc: Syscall) -> Result:
            done = await self.table.publish(
                run.workspace, topic, data, source=run.target, run_id=run.id,
                key=f"{run.id}:{sc.seq}", tainted=run.tainted,
            )  # fmt: skip
            self.kernel.nudge()
            return Result.of(done.id)

        result = await ctx.syscall("publish", {"topic": topic, "data": data}, execute)
        return int(result.unwrap())

    async def wait_event(
        self, ctx: RunContext, topic: str, match: Mapping[str, Any] | None = None
    ) -> BusEvent:
        """The first event on ``topic`` (matching ``match``) published after
        this call. Until it comes the run is parked: no task, no memory."""
        check_topic(topic)
        run = ctx.run
        ws = run.workspace

        async def mark(sc: Syscall) -> Result:
            return Result.of(await self.table.last_id(ws, topic))

        after = int((await ctx.syscall("bus.mark", {"topic": topic}, mark)).unwrap())
        scanned = after

        async def ready() -> Result | None:
            nonlocal scanned
            while batch := await self.table.after(ws, topic, scanned, 500):
                for ev in batch:
                    if matches(ev, match):  # its taint comes with it
                        return Result.of(ev.to_dict(), tainted=ev.tainted)
                scanned = batch[-1].id
            return None

        async def park() -> None:
            await self.table.park(ws, run.id, topic, scanned)

        wanted = dict(match or {})
        req = {"topic": topic, "match": wanted, "after": after}

        def waiting(seq: int) -> WaitEvent:
            return WaitEvent(topic, wanted, after, seq)

        result = await ctx.wait_until("bus.wait", req, ready, waiting, park)
        await self.table.unpark(ws, run.id)
        return BusEvent.from_dict(result.unwrap())

    # --- outside runs (people, triggers, consumers) ---------------------------------------
    async def publish_as(
        self, source: str, topic: str, data: Any = None, *, key: str | None = None
    ) -> int:
        """Publish from outside a run; a ``key`` seen before publishes nothing
        and returns the first event's id (safe to retry)."""
        done = await self.table.publish(
            self.workspace, check_topic(topic), data, source=source, key=key
        )
        self.kernel.nudge()
        return done.id

    async def subscribe(self, subscriber: str, topic: str, *, from_start: bool = False) -> None:
        """A durable cursor for ``subscriber`` on ``topic``: from now on (or
        from the first event). Subscribing again keeps the existing cursor."""
        start = 0 if from_start else await self.table.last_id(self.workspace, check_topic(topic))
        await self.table.set_cursor(self.workspace, subscriber, topic, start, only_new=True)

    async def pending(self, subscriber: str, topic: str, limit: int = 100) -> list[BusEvent]:
        """Events not yet acknowledged by ``subscriber``, oldest first. Until
        acknowledged they come again (after a crash, too)."""
        acked = await self.table.acked(self.workspace, subscriber, topic)
        if acked is None:
            raise OrgosError(f"{subscriber!r} has not subscribed to {topic!r}")
        return await self.table.after(self.workspace, topic, acked, limit)

    async def ack(self, subscriber: str, topic: str, event_id: int) -> None:
        """Everything up to ``event_id`` is handled."""
        await self.table.set_cursor(self.workspace, subscriber, topic, event_id)

    async def sweep(self) -> int:
        """At start: wake parked runs whose event came while no worker ran."""
        n = await self.table.wake_all(self.workspace)
        if n:
            self.kernel.nudge()
        return n
