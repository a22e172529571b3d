"""A wake that arrives while its run is parking is never lost: the approval
decided, or the kill switch lifted, after the run decided to park and before
its park is committed still wakes it (forced with a barrier in the store)."""

from __future__ import annotations

from pathlib import Path

from gov_helpers import Ledger, plan, runtime
from park_barrier import ParkBarrier

from orgos.store.base import UpdateRun
from orgos.store.waiting import WaitPaused

POLICY = {"rules": [{"name": "big-refund", "when": {"tool": "refund", "args": {"amount": {"gt": 500}}},
                     "decide": "approve", "reason": "refunds above 500 need a person"}]}  # fmt: skip


def refund_model():  # type: ignore[no-untyped-def]
    return plan(("refund", {"order_id": "A-1", "amount": 900.0}), final=lambda r: r[0])


async def test_approval_decided_while_parking_still_wakes_the_run(tmp_path: Path) -> None:
    ledger = Ledger()
    store = ParkBarrier(tmp_path / "o.db")
    async with runtime(tmp_path, POLICY, refund_model(), ledger.tools(), store=store) as rt:
        gov = rt.governance
        assert gov is not None

        async def approve_now(op: UpdateRun) -> None:
            a = gov.approvals.requested.get_nowait()  # the run asked, and is about to park
            await rt.control.approve(a.id, by="olga")

        store.before_park = approve_now
        rec = await rt.submit("clerk", "refund A-1")
        done = await rt.wait(rec.id, timeout=10)
    assert store.fired == 1
    assert done.status.value == "succeeded", (done.status, done.waiting_on)
    assert ledger.refunds == [{"order_id": "A-1", "amount": 900.0}]


async def test_unpause_while_parking_still_wakes_the_run(tmp_path: Path) -> None:
    ledger = Ledger()
    store = ParkBarrier(tmp_path / "o.db")
    model = plan(("lookup", {"order_id": "A-1"}))
    async with runtime(tmp_path, {}, model, ledger.tools(), store=store) as rt:
        gov = rt.governance
        assert gov is not None
        await gov.switches.pause("agent:clerk", "incident", actor="olga")

        async def unpause_now(op: UpdateRun) -> None:
            assert isinstance(op.waiting_on, WaitPaused)
            await gov.switches.unpause("agent:clerk", actor="olga")

        store.before_park = unpause_now
        rec = await rt.submit("clerk", "look A-1 up")
        done = await rt.wait(rec.id, timeout=10)
    assert store.fired == 1
    assert done.status.value == "succeeded"
