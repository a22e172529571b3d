"""Recovery: what a crash or a stop left, brought back."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from orgos.errors import NotFound
from orgos.kernel.host import pid_alive
from orgos.result import Result
from orgos.store.base import Append, Audit, JournalEntry, Op, RunStatus
from orgos.store.waiting import WaitDecision

if TYPE_CHECKING:
    from orgos.kernel.kernel import Kernel


class Recovery:
    """The recovery of a ``Kernel``: what crashes and stops left behind.

    Owns the sweep at a worker's start (workers of this host whose process
    is gone are fenced at once, so their runs go on now rather than when
    their lease runs out; runs that became ready while nobody looked are
    woken; the timers of parked runs are armed again) and the answer a
    person gives for a syscall a crash left in doubt (``decide``), journaled
    and audited with who gave it. Runs orphaned by a dead worker are claimed
    by the worker loop like any runnable run."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    async def sweep(self) -> None:
        """At start: fence dead workers here, wake ready runs, arm parked runs' timers."""
        k = self.kernel
        await self.reap_dead_workers()
        await k.store.wake_all_ready(k.workspaces)
        await k.timers.arm_parked(k.workspaces)

    async def reap_dead_workers(self) -> int:
        """Fence workers on this host whose process is gone, so their runs can
        be resumed at once rather than after their lease runs out."""
        k = self.kernel
        host, n = socket.gethostname(), 0
        for w in await k.store.workers.all():
            if w.id != k.worker_id and not w.fenced and w.host == host and not pid_alive(w.pid):
                await k.store.workers.fence(w.id)
                n += 1
        return n

    async def decide(
        self, run_id: str, action: str, value: Any = None, workspace: str | None = None,
        *, attempt: int | None = None, by: str = "local",
    ) -> None:  # fmt: skip
        """Answer for a syscall that was in flight at a crash.

        ``retry``: run it again (this attempt only: if the retried attempt is
        in doubt too, the run asks again). ``done``: it took effect; ``value``
        is its result. ``not-done``: it did not happen; the run sees an error.
        ``attempt``: the attempt the answer is about (refused if another one
        is in doubt now). The journal and the audit log say who (``by``)
        answered what."""
        k = self.kernel
        ws = workspace or k.workspace
        rec = await k.store.get_run(ws, run_id)
        if rec is None:
            raise NotFound(f"run {run_id} not found")
        decision = rec.waiting_on
        if rec.status is not RunStatus.WAITING or type(decision) is not WaitDecision:
            raise ValueError(f"run {run_id} is not waiting for a decision")
        seq, kind = decision.seq, decision.syscall
        now = decision.attempt or 1
        if attempt is not None and attempt != now:
            raise ValueError(f"run {run_id}: attempt {now} of step {seq} is in doubt now,"
                             f" not attempt {attempt}; look again")  # fmt: skip
        err = "the operator reported that this call did not take effect"
        result = {"done": Result.of(value).to_payload(),
                  "not-done": Result.fail(err, code="not_done").to_payload(),
                  "retry": None}  # fmt: skip
        if action not in result:
            raise ValueError(f"unknown decision {action!r}; use retry, done or not-done")
        said = {"action": action, "attempt": now, "by": by}
        ops: list[Op] = [Append(JournalEntry(run_id, seq, "decision", kind, said, ws))]
        if result[action] is not None:
            ops.append(Append(JournalEntry(run_id, seq, "result", kind, result[action], ws)))
        ops.append(Audit(ws, by, f"decision.{action}", run_id, seq, {"kind": kind, **said}))
        await k.journal.submit(*ops)
        await k.resume(run_id, ws)
