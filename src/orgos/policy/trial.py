"""The policy breaker's half-open state. When a person unpauses an agent the
breaker paused, the switch stays, half-open: exactly one run (the first to
reach a syscall, claimed in the store so workers agree) passes it as the
trial. Its success lifts the switch and wakes the rest; its failure leaves
the agent paused for a person again; a cancelled trial frees the slot."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from orgos.store.base import RunRecord, RunStatus

if TYPE_CHECKING:
    from orgos.policy.governance import Governance

#: The reason of a half-open switch, followed by the trial run's id (none yet: free).
TRIAL = "breaker: half-open, one trial run: "


def tripped(reason: str | None) -> bool:
    """A pause the breaker set (not yet half-open)."""
    return reason is not None and reason.startswith("breaker:") and not reason.startswith(TRIAL)


async def admit(gov: Governance, scope: str, reason: str, run_id: str) -> bool:
    """May this run pass the half-open switch: it is the trial, or takes the free slot?"""
    trial = reason[len(TRIAL) :]
    if trial:
        return trial == run_id
    if not await gov.store.governance.replace_switch(
        gov.workspace, scope, reason, TRIAL + run_id, "breaker"
    ):
        await gov.switches.refresh()  # another run took it first
        return False
    gov.switches.paused[scope] = TRIAL + run_id
    return True


def ended(gov: Governance, run: RunRecord) -> None:
    """A run ended on this worker (kernel hook): if it was the trial, settle it."""
    scope = "agent:" + run.target
    if gov.switches.paused.get(scope) != TRIAL + run.id:
        return
    gov.switches.keep(asyncio.get_running_loop().create_task(_settle(gov, scope, run)))


async def _settle(gov: Governance, scope: str, run: RunRecord) -> None:
    held = TRIAL + run.id
    if run.status is RunStatus.SUCCEEDED:
        if await gov.store.governance.replace_switch(gov.workspace, scope, held, None, "breaker"):
            await gov.switches.woke_by_lift()
    elif run.status is RunStatus.CANCELLED:
        await gov.store.governance.replace_switch(gov.workspace, scope, held, TRIAL, "breaker")
        await gov.switches.woke_by_lift()  # the others may try for the slot again
    else:
        why = f"breaker: the trial run {run.id} after unpausing {run.status.value}"
        await gov.store.governance.replace_switch(gov.workspace, scope, held, why, "breaker")
    await gov.switches.refresh()
