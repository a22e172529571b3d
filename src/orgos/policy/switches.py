"""Kill switches: pausing an agent, a team or everything, and the breaker
that pauses an agent by itself."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from orgos.kernel.breakers import WindowBreaker
from orgos.policy import trial
from orgos.store.base import RunFilter, RunRecord, RunStatus
from orgos.store.waiting import WaitPaused

if TYPE_CHECKING:
    from orgos.policy.governance import Governance, RunState

log = logging.getLogger("orgos.policy")


class Switches:
    """The kill switches of a governed runtime (``Governance.switches``).

    Owns this process's view of the switches in force (``paused``, read
    from the store every ``interval`` seconds, so switches other processes
    set are seen), pausing and lifting a scope (``all``, ``agent:NAME``,
    ``team:NAME``), waking the runs a switch parked, and the policy breaker:
    its error and cost counts per agent, the pause it trips, and the
    half-open trial after a person lifts it (``orgos.policy.trial``)."""

    def __init__(self, gov: Governance, interval: float) -> None:
        self.gov = gov
        self.interval = interval
        #: Scope -> reason, for every switch in force (as of the last refresh).
        self.paused: dict[str, str] = {}
        #: Pauses the breaker set whose store write is still on its way (kept
        #: across refreshes, or a refresh would let the agent go on meanwhile).
        self._tripping: dict[str, str] = {}
        #: When the view is read from the store again (monotonic).
        self.next = 0.0
        self._breaker: dict[str, WindowBreaker] = {}
        #: Writes in flight (trips, trial settlements), awaited at stop.
        self.tasks: set[asyncio.Task[Any]] = set()

    async def refresh(self) -> None:
        """Read the switches in force from the store."""
        gov = self.gov
        self.next = time.monotonic() + self.interval
        self.paused = await gov.store.governance.switches(gov.workspace)
        if self._tripping:
            self.paused.update(self._tripping)

    def scope_of(self, st: RunState) -> str | None:
        """The switch in force that holds this run's agent, if any."""
        p = self.paused
        for scope in ("all", "agent:" + st.agent, f"team:{st.team}" if st.team else ""):
            if scope in p:
                return scope
        return None

    async def passes_trial(self, scope: str, run_id: str) -> bool:
        """Whether this run passes a half-open switch as its trial."""
        why = self.paused[scope]
        return why.startswith(trial.TRIAL) and await trial.admit(self.gov, scope, why, run_id)

    async def pause(self, scope: str, reason: str, actor: str) -> bool:
        """Pause a scope that exists (ValueError naming what does otherwise)."""
        self._check_exists(check_scope(scope))
        return await self._pause(scope, reason, actor)

    async def _pause(self, scope: str, reason: str, actor: str) -> bool:
        gov = self.gov
        ok = await gov.store.governance.set_switch(gov.workspace, scope, True, reason, actor)
        await self.refresh()
        return ok

    def _check_exists(self, scope: str) -> None:
        if scope == "all":
            return
        what, name = scope.split(":", 1)
        chart = self.gov.chart
        known = sorted((chart.agents if what == "agent" else chart.teams) if chart else ())
        if name not in known:
            raise ValueError(
                f"no {what} named {name!r} to pause; {what}s: {', '.join(known) or 'none'}"
            )

    async def unpause(self, scope: str, actor: str) -> list[str]:
        """Lift a switch; runs parked by it are woken (they re-check). A pause
        the breaker set turns half-open instead: one trial run goes first."""
        gov = self.gov
        reason = (await gov.store.governance.switches(gov.workspace)).get(check_scope(scope))
        if scope.startswith("agent:") and trial.tripped(reason):
            assert reason is not None
            await gov.store.governance.replace_switch(
                gov.workspace, scope, reason, trial.TRIAL, actor
            )
        else:
            await gov.store.governance.set_switch(gov.workspace, scope, False, "", actor)
        return await self.woke_by_lift()

    async def woke_by_lift(self) -> list[str]:
        """Wake the runs parked on switches (they re-check): after a lift."""
        gov = self.gov
        await self.refresh()
        woke = await wake_paused(gov.kernel.store, gov.workspace)
        gov.kernel.nudge()
        return woke

    async def waker(self, run: RunRecord) -> bool:
        """After a park on a kill switch: lifted meanwhile (read from the
        store, not this process's cached view)? Then go on."""
        gov = self.gov
        w = run.waiting_on
        scope = w.scope if type(w) is WaitPaused else None
        if scope in await gov.store.governance.switches(run.workspace):
            return False
        return await gov.kernel.store.requeue(run.workspace, run.id)

    def breaker_note(self, agent: str, *, cost: float = 0.0, error: bool = False) -> None:
        """Count a model call's cost or a tool's error for the breaker; trip
        it (pause the agent) when its window says so."""
        spec = self.gov.spec
        b = spec.breaker
        counts = self._breaker.setdefault(agent, WindowBreaker())
        now = time.monotonic()
        why = counts.note(
            now, b.window, b.max_errors, b.max_cost, spec.currency, cost=cost, error=error
        )
        if why is None or "agent:" + agent in self.paused:
            return
        counts.reset()
        log.error("agent %s paused by its %s", agent, why)
        scope = "agent:" + agent
        self.paused[scope] = self._tripping[scope] = why
        self.keep(asyncio.get_running_loop().create_task(self._trip(scope, why)))

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a write in flight until it is done (or awaited at stop)."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _trip(self, scope: str, why: str) -> None:
        try:
            await self._pause(scope, why, "breaker")
        finally:
            self._tripping.pop(scope, None)


def check_scope(scope: str) -> str:
    if scope == "all" or (scope.startswith(("agent:", "team:")) and scope.split(":", 1)[1]):
        return scope
    raise ValueError(f"a switch scope is all, agent:NAME or team:NAME, not {scope!r}")


async def wake_paused(store: Any, workspace: str) -> list[str]:
    waiting = await store.list_runs(
        RunFilter(workspace, statuses=[RunStatus.WAITING], limit=1_000_000)
    )
    woke = []
    for r in waiting:
        if type(r.waiting_on) is WaitPaused and await store.requeue(workspace, r.id):
            woke.append(r.id)
    return woke
