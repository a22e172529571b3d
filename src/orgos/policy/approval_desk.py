"""The approvals a governed runtime asked for, once asked."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from orgos.policy import approvals as approvals_mod
from orgos.policy import escalation
from orgos.store.base import RunRecord
from orgos.store.records import Approval
from orgos.store.waiting import WaitApproval

if TYPE_CHECKING:
    from orgos.policy.governance import Governance

log = logging.getLogger("orgos.policy")


class ApprovalDesk:
    """The approvals of a governed runtime (``Governance.approvals``).

    Owns what happens to an approval after the gate (``orgos.policy.gate``)
    asked for it: the queue of those this process created (for in-process
    waiters), a person's or a supervisor agent's decision and the run it
    wakes, who may decide, and escalation: overdue approvals moved up their
    chains, and decision runs started for those a supervisor agent holds
    (the escalation loop of a worker)."""

    def __init__(self, gov: Governance) -> None:
        self.gov = gov
        #: Approvals created by this process, in order (for in-process waiters).
        self.requested: asyncio.Queue[Approval] = asyncio.Queue()
        self._loop_task: asyncio.Task[None] | None = None

    async def decide(
        self,
        approval_id: str,
        *,
        approve: bool,
        by: str,
        note: str | None = None,
        arguments: Any = None,
    ) -> Approval:
        """Approve or deny an approval as ``by``; its run goes on."""
        gov = self.gov
        a = await approvals_mod.decide(
            gov.store, gov.workspace, approval_id,
            approve=approve, by=by, note=note, arguments=arguments,
        )  # fmt: skip
        gov.kernel.nudge()
        return a

    async def waker(self, run: RunRecord) -> bool:
        """After a park on an approval: decided meanwhile? Then go on."""
        gov = self.gov
        ap = run.waiting_on
        a = await gov.store.approvals.get(
            run.workspace, run.id, ap.seq if type(ap) is WaitApproval else -1
        )
        if a is None or a.status == "pending":
            return False
        return await gov.kernel.store.requeue(run.workspace, run.id)

    async def may_decide(self, person: str) -> None:
        """Raise PermissionError unless ``person`` may answer for a run."""
        await approvals_mod.may_decide(self.gov.store, self.gov.workspace, person)

    async def escalate_due(self, now: float | None = None) -> list[Approval]:
        """Move overdue approvals up their chains; each move is announced on
        the bus (``approvals.escalated``) in its transaction."""
        return await escalation.escalate_due(self.gov, now)

    async def hand_over(self) -> list[str]:
        """Start a decision run for each approval assigned to a supervisor agent."""
        return await escalation.hand_over(self.gov)

    def start(self) -> None:
        """Start the escalation loop (a worker's)."""
        self._loop_task = asyncio.create_task(self._escalation_loop(), name="orgos-approvals")

    def stopping(self) -> list[asyncio.Task[Any]]:
        """The escalation loop, cancelled (for the caller to await)."""
        t, self._loop_task = self._loop_task, None
        if t is None:
            return []
        t.cancel()
        return [t]

    async def _escalation_loop(self) -> None:
        while True:
            await asyncio.sleep(self.gov.spec.approvals.check_every)
            try:
                for a in await self.escalate_due():
                    log.warning("approval %s escalated to %s", a.id, a.assignee)
                await self.hand_over()
            except Exception as exc:  # a busy database: next time
                log.warning("escalating approvals failed: %s", exc)
