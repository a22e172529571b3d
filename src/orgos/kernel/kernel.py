"""The kernel: runs, their workers, and recovery.

A Kernel is one worker. It registers itself in the store with a lease, claims
runnable runs (new, woken, or orphaned by a dead worker), executes each as an
asyncio task through a RunContext, and records every status change in the
journal. Any number of kernels can share a store; fencing makes sure a run is
never executed by two at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import pydantic_core

from orgos.config.limits import Limits
from orgos.errors import FencedOut, NotFound, PayloadError, RunFailed, WorkspaceError
from orgos.ids import IdSource
from orgos.kernel.context import RunContext
from orgos.kernel.deadlines import Deadlines
from orgos.kernel.events import Event, EventHub
from orgos.kernel.host import pid_alive, tune_collector
from orgos.kernel.journal import Journal, end_ops
from orgos.kernel.limits import BlobSink, TreeLimits
from orgos.kernel.program import Program
from orgos.kernel.scheduler import Scheduler
from orgos.kernel.syscall import Park, Pipeline, Stopping
from orgos.kernel.timers import WakeTimers
from orgos.llm.base import Model, ModelRequest, ModelResponse, TokenSink
from orgos.llm.fallback import Caller, ModelOptions
from orgos.redact import Scrubber
from orgos.result import Result
from orgos.store.base import (
    Append,
    Audit,
    Change,
    InsertRun,
    JournalEntry,
    Op,
    RunRecord,
    RunStatus,
    Store,
    WorkerInfo,
)
from orgos.store.outcome import RunOutcome
from orgos.store.waiting import WaitApproval, WaitDecision, Waiting, WaitRuns
from orgos.tools.base import Tool
from orgos.tools.registry import ToolRegistry
from orgos.tools.threads import ToolThreads

log = logging.getLogger("orgos.kernel")


#: Asked after a run's park is committed: has what it waits for come already?
Waker = Callable[[RunRecord], Awaitable[bool]]


async def _answered_after_park(run: RunRecord) -> bool:
    """A decision about an in-doubt call: ``decide`` refuses a run whose park
    is not committed, so no answer can come before it; nothing to look for."""
    return False


class Kernel:
    def __init__(
        self,
        store: Store,
        *,
        workspace: str = "default",
        workspaces: Collection[str] = (),
        models: Mapping[str, Model] | None = None,
        model_options: Mapping[str, ModelOptions] | None = None,
        tools: Mapping[str, Tool] | None = None,
        programs: Mapping[str, Program] | None = None,
        max_active: int = 1000,
        lease_ttl: float = 10.0,
        poll_interval: float = 0.5,
        model_timeout: float = 120.0,
        model_retries: int = 4,
        retry_backoff: float = 0.5,
        tune_gc: bool = False,
        adopt: bool = True,
        drain_timeout: float = 10.0,
        limits: Limits | None = None,
    ):
        self.store = store
        self.workspace = workspace
        #: The workspaces whose runs this worker creates, claims and wakes:
        #: its own, and more only when configured so (an instance's worker).
        self.workspaces = frozenset({workspace, *workspaces})
        self.models: dict[str, Model] = dict(models or {})
        #: Per model key: its retries and fallback chain (a project's ``models``).
        self.model_options: dict[str, ModelOptions] = dict(model_options or {})
        #: By name; its ``version`` moves with every change (see ToolRegistry).
        self.tools = ToolRegistry(tools or {})
        #: The threads sync tools run in: this kernel's own, shut down when it stops.
        self.threads = ToolThreads()
        self.programs: dict[str, Program] = dict(programs or {})
        self.pipeline = Pipeline()
        #: Delegation depth, runs per tree, sizes (``orgos.config.limits``).
        self.limits = limits or Limits()
        self.trees = TreeLimits(store, self.limits)
        #: Where a tool result too large for the model is kept whole (None: cut only).
        self.blobs: BlobSink | None = None
        #: Gives a tool the value of a vault secret by name, at execution only.
        self.secrets: Callable[[str], Awaitable[str]] | None = None
        #: Every vault value this runtime knows: masked in tool results.
        self.scrubber: Scrubber | None = None
        #: Services plugged in when the runtime is assembled (e.g. the workspace's
        #: agent tools); the kernel itself never looks inside.
        self.services: dict[str, Any] = {}
        #: The one wake mechanism, check-after-park: a park names what it
        #: waits for by the type of its ``waiting_on``; once the park is
        #: committed, the waker of that type is asked whether that already
        #: came (True: it made the run runnable). Every wake source changes
        #: its state first, then queues the run if it is waiting; so a wake
        #: that lands while the run is parking is seen by one side or the other.
        self.wakers: dict[type[Waiting], Waker] = {
            WaitRuns: self._children_waker,
            WaitDecision: _answered_after_park,
        }
        self.events = EventHub()
        self.deadlines = Deadlines()
        self.max_active = max_active
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        #: Run and worker ids come from this kernel's own generator.
        self.new_id = IdSource()
        self.worker_id = self.new_id("w-")
        self.journal = Journal(store, self.worker_id)
        #: A clean stop waits this long for unrepeatable calls in flight.
        self.drain_timeout = drain_timeout
        #: Set when the worker starts to stop: runs stop at their next syscall.
        self.stopping = False
        self.draining = asyncio.Event()
        #: Runs inside a call that must not be cut short (not repeatable).
        self.in_effect: set[str] = set()
        self._active: dict[str, asyncio.Task[None]] = {}
        self._reserved: dict[str, RunRecord] = {}
        self._cancelling: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[RunRecord | None]]] = {}
        #: Records of the runs this worker holds (reserved or executing).
        self._held: dict[str, RunRecord] = {}
        self._nudge = asyncio.Event()
        self._unlisten: Callable[[], None] = lambda: None
        self._bg: list[asyncio.Task[None]] = []
        self._started = False
        self._context = contextvars.copy_context()
        self.tune_gc = tune_gc
        #: None: claim any runnable run (a worker). A set: only runs of these
        #: trees, e.g. a CLI that follows one run and must not adopt others.
        self.roots: set[str] | None = None if adopt else set()
        #: Called with the record of every run that ends on this worker
        #: (routing's circuit breakers listen here). Must not raise.
        self.on_run_end: list[Callable[[RunRecord], None]] = []
        #: Per-agent limits and fair share between teams (None: first come).
        self.scheduler: Scheduler | None = None
        self.timers = WakeTimers(store, self._nudge.set)
        self._caller = Caller(self.models, self.model_options, model_timeout, model_retries,
                              retry_backoff, self.deadlines.timeout)  # fmt: skip

    # --- lifecycle ----------------------------------------------------------------
    async def start(self, *, recover: bool = True) -> None:
        """Join the store as a worker. With ``recover``, claim unfinished runs."""
        if self.tune_gc:
            tune_collector()
        # Runs execute in the context the kernel started in, however they are
        # launched (a submit, the dispatcher): what the host set there for
        # its runtime (its log scope) is theirs, not the submitter's.
        self._context = contextvars.copy_context()
        if self.threads.closed:  # started again after a stop
            self.threads = ToolThreads(self.threads.limit)
        await self.store.register_worker(
            WorkerInfo(self.worker_id, socket.gethostname(), os.getpid(),
                       time.time() + self.lease_ttl)
        )  # fmt: skip
        self.journal.start()
        self._started = True
        self.stopping = False
        self.draining.clear()
        self._bg.append(asyncio.create_task(self._housekeeping(), name="orgos-housekeeping"))
        # A store that announces changes (PostgreSQL) wakes the dispatcher and
        # waiters at once; with one that cannot (SQLite) they look now and then.
        self._unlisten = self.store.listen(self._on_change)
        if recover:
            await self.reap_dead_workers()
            await self.store.wake_all_ready(self.workspaces)
            await self.timers.arm_parked(self.workspaces)
            self._bg.append(asyncio.create_task(self._dispatcher(), name="orgos-dispatch"))

    async def stop(self) -> None:
        """Leave cleanly: unfinished runs go back to the queue for any worker.

        A stop is not a crash: a run inside an unrepeatable call (one that
        would be in doubt at restart) finishes it and journals its result,
        for up to ``drain_timeout`` seconds, then stops at its next syscall;
        the others stop at once (what they were doing is safe to redo)."""
        if not self._started:
            return
        self._started = False
        self.stopping = True
        self.draining.set()
        self._unlisten()
        for t in self._bg:
            t.cancel()
        await self.timers.close()
        busy = []
        for rid, t in list(self._active.items()):
            (busy.append(t) if rid in self.in_effect else t.cancel())
        if busy:
            await asyncio.wait(busy, timeout=self.drain_timeout)
        tasks = list(self._active.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*self._bg, *tasks, return_exceptions=True)
        self._bg.clear()
        self.threads.shutdown()  # never waits: a hung tool's thread ends when it may
        self.deadlines.close()
        await self.journal.close()
        with contextlib.suppress(Exception):
            await self.store.remove_worker(self.worker_id)

    async def __aenter__(self) -> Kernel:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def reap_dead_workers(self) -> int:
        """Fence workers on this host whose process is gone, so their runs can
        be resumed at once rather than after their lease runs out."""
        host, n = socket.gethostname(), 0
        for w in await self.store.list_workers():
            if w.id != self.worker_id and not w.fenced and w.host == host and not pid_alive(w.pid):
                await self.store.fence_worker(w.id)
                n += 1
        return n

    def held_records(self) -> list[RunRecord]:
        """The records of the runs this worker holds now."""
        return list(self._held.values())

    @property
    def held_runs(self) -> frozenset[str]:
        """Ids of the runs this worker holds now (executing or about to)."""
        return frozenset(self._held)

    # --- models -------------------------------------------------------------------
    def model(self, name: str) -> Model:
        return self._caller.model(name)

    def complete(
        self, name: str, request: ModelRequest, on_token: TokenSink | None
    ) -> Awaitable[ModelResponse]:
        """Call model ``name`` (its retries, then its fallbacks). Only
        ``RunContext.llm`` calls this: a model call is a syscall of a run."""
        return self._caller.complete(name, request, on_token)

    # --- creating runs --------------------------------------------------------------
    async def new_run(
        self,
        kind: str,
        target: str,
        input: Any,
        workspace: str | None = None,
        *,
        parent: RunRecord | None = None,
        priority: int = 0,
    ) -> RunRecord:
        """A run record, owned by this worker when it has room (to be started
        with ``start_local`` once committed), else queued for any worker."""
        program = self.programs.get(kind)
        if program is None:
            raise NotFound(f"no program for runs of kind {kind!r}")
        ws = self._workspace_of(workspace, parent)
        version = await program.resolve_version(ws, target)
        depth = 0 if parent is None else await self.trees.admit(parent)  # LimitReached
        rid = self.new_id("r-")
        local = len(self._active) + len(self._reserved) < self.max_active and (
            self.scheduler is None or self.scheduler.admit(self, kind, target)
        )
        rec = RunRecord(
            id=rid, workspace=ws, kind=kind, target=target, target_version=version,
            input=pydantic_core.to_jsonable_python(input),
            parent_id=parent.id if parent else None,
            root_id=parent.root_id if parent else rid,
            status=RunStatus.RUNNING if local else RunStatus.QUEUED,
            owner=self.worker_id if local else None,
            priority=priority, created_at=time.time(),
            tainted=parent is not None and parent.tainted,  # it works on what its parent read
        )  # fmt: skip
        if parent is None:
            self.trees.started(rec)
        else:
            self.trees.created(rec, depth)
        if local:
            self._reserved[rid] = rec
            self._held[rid] = rec
        return rec

    def _workspace_of(self, workspace: str | None, parent: RunRecord | None) -> str:
        """Where a new run goes: its parent's workspace, else the one asked
        for (or this worker's); never one this worker does not serve."""
        ws = workspace or (parent.workspace if parent else self.workspace)
        if parent is not None and ws != parent.workspace:
            raise WorkspaceError(
                f"a child run stays in its parent's workspace {parent.workspace!r}, not {ws!r}"
            )
        if ws not in self.workspaces:
            raise WorkspaceError(
                f"this worker serves workspace(s) {', '.join(sorted(self.workspaces))}, not {ws!r}"
            )
        return ws

    def insert_ops(self, rec: RunRecord) -> list[Op]:
        # The run's row holds its target, version and start; its journal
        # begins with its first syscall.
        return [InsertRun(rec)]

    def unreserve(self, run_ids: list[str]) -> None:
        """Forget runs reserved in ``new_run`` that were never committed."""
        for rid in run_ids:
            self._reserved.pop(rid, None)
            self._held.pop(rid, None)

    def start_local(self, run_ids: list[str]) -> None:
        """Start runs this worker reserved in ``new_run`` and has committed."""
        for rid in run_ids:
            rec = self._reserved.pop(rid, None)
            if rec is not None:
                self._launch(rec, [])
            else:
                self._nudge.set()

    async def submit(
        self,
        kind: str,
        target: str,
        input: Any,
        *,
        workspace: str | None = None,
        priority: int = 0,
    ) -> RunRecord:
        """Create a run, durably, and start it. Returns once it is committed."""
        rec = await self.new_run(kind, target, input, workspace, priority=priority)
        if self.roots is not None:
            self.roots.add(rec.root_id)
        try:
            await self.journal.submit(*self.insert_ops(rec))
        except BaseException:
            self.unreserve([rec.id])
            raise
        self.start_local([rec.id])
        return rec

    # --- executing runs ---------------------------------------------------------------
    def _launch(self, rec: RunRecord, journal: list[JournalEntry]) -> None:
        self._held[rec.id] = rec
        self._active[rec.id] = asyncio.create_task(
            self._execute(rec, journal), name=rec.id, context=self._context.copy()
        )

    async def _execute(self, run: RunRecord, journal: list[JournalEntry]) -> None:
        """Execute the run's program and record how it ended (or left us).

        The program is awaited here, in the task's first frame: every
        suspension of a run passes through each frame of its await chain."""
        ctx = RunContext(self, run, journal)
        output: Any = None
        error: str | None = None
        waiting: Waiting | None = None
        try:
            try:
                program = self.programs.get(run.kind)
                if program is None:
                    raise NotFound(f"no program for runs of kind {run.kind!r}")
                output = pydantic_core.to_jsonable_python(await program(ctx))
                status = RunStatus.SUCCEEDED
            except Park as p:
                status, error, waiting = RunStatus.WAITING, p.reason, p.waiting_on
            except asyncio.CancelledError:
                if run.id not in self._cancelling:
                    self._notify(run.id)
                    raise  # shutdown: the run stays unfinished, for recovery
                status, error = RunStatus.CANCELLED, "cancelled"
            except (FencedOut, Stopping):
                self._notify(run.id)  # unfinished, for a worker to resume
                return
            except Exception as exc:
                status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
            try:
                await self._record_end(ctx, status, output, error, waiting)
            except asyncio.CancelledError:
                if run.id not in self._cancelling:
                    raise
                # Cancelled while its end was being committed (a commit is
                # never cut short): parked by now, it is cancelled there.
                if status is RunStatus.WAITING:
                    with contextlib.suppress(Exception):
                        await self.store.request_cancel(run.workspace, run.id)
                self._notify(run.id)
        finally:
            # A woken run may already run again in a new task: leave that one be.
            if self._active.get(run.id) is asyncio.current_task():
                del self._active[run.id]
            self._cancelling.discard(run.id)

    async def _record_end(
        self,
        ctx: RunContext,
        status: RunStatus,
        output: Any,
        error: str | None,
        waiting: Waiting | None,
    ) -> None:
        run = ctx.run
        try:
            try:
                ops = end_ops(run, ctx.seq, status, output, error, waiting)
            except PayloadError as exc:  # its output cannot be stored: it fails alone
                status, output, error = RunStatus.FAILED, None, f"output refused: {exc}"
                ops = end_ops(run, ctx.seq, status, output, error, waiting)
            await self.journal.submit(*ops)
        except Exception as exc:
            log.error("run %s: could not record status %s: %s", run.id, status, exc)
            self._notify(run.id)
            return
        run.status, run.output, run.error, run.waiting_on = status, output, error, waiting
        if self.events.active(run.root_id):
            self.events.publish(Event(run.id, run.root_id, "status",
                                      {"status": status.value, "error": error}))  # fmt: skip
        woke = False
        if status is RunStatus.WAITING:
            # No longer held: a child ending from now on wakes it itself.
            self._held.pop(run.id, None)
            woke = await self._check_after_park(run, waiting)
            # Woken at once: waiters look again rather than see a stale park.
            self._notify(run.id, None if woke else run)
        else:
            self._notify(run.id, run)
        if status.terminal:
            for hook in self.on_run_end:
                hook(run)
            if run.parent_id is not None and run.parent_id not in self._held:
                # A parent this worker holds is not parked: when it parks, it
                # looks at its children itself (above), after this end is in.
                woke = await self.store.wake_if_ready(run.workspace, run.parent_id, ended=run.id)
        if woke or (self.scheduler is not None and self.scheduler.backlog):
            self._nudge.set()

    async def _check_after_park(self, run: RunRecord, waiting: Waiting | None) -> bool:
        """Ask the waker of what the committed park waits for whether it
        came meanwhile; True if it made the run runnable."""
        if type(waiting) is WaitRuns and waiting.until is not None:
            self.timers.arm(run.workspace, run.id, waiting.until)
        waker = None if waiting is None else self.wakers.get(type(waiting))
        if waker is None:
            what = "nothing" if waiting is None else waiting.kind
            log.error("run %s parked on %s, which nothing wakes", run.id, what)
            return False
        try:
            return await waker(run)
        except Exception as exc:  # the sweep at the next start looks again
            log.warning("run %s: checking its wake (%s) failed: %s", run.id, waiting, exc)
        return False

    async def _children_waker(self, run: RunRecord) -> bool:
        """Child runs that ended, or a deadline that passed, while it parked."""
        return await self.store.wake_if_ready(run.workspace, run.id)

    async def ended_children(self, parent: RunRecord, run_ids: list[str]) -> list[RunOutcome]:
        """The outcomes of those of ``run_ids`` (children of ``parent``) that ended."""
        return await self.store.children.ended(parent.workspace, run_ids)

    def _notify(self, run_id: str, rec: RunRecord | None = None) -> None:
        """Wake whoever waits on this run: its status changed (``rec`` is its
        new record) or it left this worker."""
        self._held.pop(run_id, None)
        for fut in self._waiters.pop(run_id, ()):
            if not fut.done():
                fut.set_result(rec)

    async def run_outcomes(self, workspace: str, run_ids: list[str]) -> list[RunOutcome] | None:
        """The ends of these runs, or None while any is unfinished."""
        out = []
        for rid in run_ids:
            rec = await self.store.get_run(workspace, rid)
            if rec is None:
                raise NotFound(f"run {rid} not found")
            if not rec.status.terminal:
                return None
            out.append(RunOutcome.of(rec))
        return out

    async def _dispatcher(self) -> None:
        swept = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._nudge.wait()
            self._nudge.clear()
            if time.monotonic() - swept > 3 * self.lease_ttl:  # timers of a dead worker
                swept = time.monotonic()
                with contextlib.suppress(Exception):
                    await self.timers.arm_parked(self.workspaces)
            free = self.max_active - len(self._active) - len(self._reserved)
            if free <= 0:
                continue
            try:
                if self.scheduler is not None:
                    claimed = await self.scheduler.claim(self, free)
                else:
                    claimed = await self.store.claim_runs(
                        self.worker_id, free, time.time(), self.roots, workspaces=self.workspaces
                    )
                # Held from now on: a run admitted while the journals load
                # counts them (the scheduler's limits and shares).
                for rec in claimed:
                    self._held[rec.id] = rec
                for rec in claimed:
                    self._launch(rec, await self.store.load_journal(rec.id))
            except FencedOut:
                await self._fenced()
            except Exception as exc:  # a busy database: try again next tick
                log.warning("claiming runs failed: %s", exc)

    async def _housekeeping(self) -> None:
        every = max(self.lease_ttl / 3, 0.05)
        last_renew = time.monotonic()
        while True:
            await asyncio.sleep(min(every, self.poll_interval))
            try:
                if time.monotonic() - last_renew >= every:
                    last_renew = time.monotonic()
                    if not await self.store.renew_worker(
                        self.worker_id, time.time() + self.lease_ttl
                    ):
                        await self._fenced()
                        continue
                for rid in await self.store.cancel_requests(self.worker_id):
                    self._cancel_local(rid)
            except Exception as exc:
                log.warning("housekeeping failed: %s", exc)

    async def _fenced(self) -> None:
        """Another worker declared us dead and took our runs: drop them all."""
        log.error("worker %s was fenced; abandoning %d runs", self.worker_id, len(self._active))
        tasks = list(self._active.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._active.clear()
        self._reserved.clear()
        for rid in list(self._held):
            self._notify(rid)
        await self.journal.close()
        self.worker_id = self.new_id("w-")
        self.journal = Journal(self.store, self.worker_id)
        await self.store.register_worker(
            WorkerInfo(self.worker_id, socket.gethostname(), os.getpid(),
                       time.time() + self.lease_ttl)
        )  # fmt: skip
        self.journal.start()

    def nudge(self) -> None:
        """Look for runnable runs now (a service made some runnable)."""
        self._nudge.set()

    def _on_change(self, change: Change) -> None:
        """The store says: runs of a workspace became claimable (``""``: maybe
        any), or a run ended (whoever waits here for it looks again)."""
        if change.kind == "runnable":
            if not change.workspace or change.workspace in self.workspaces:
                self._nudge.set()
        elif change.run_id is not None and change.run_id not in self._held:
            for fut in self._waiters.get(change.run_id, ()):
                if not fut.done():
                    fut.set_result(None)

    def follow(self, root_id: str) -> None:
        """Let a non-adopting kernel work on this run tree too."""
        if self.roots is not None:
            self.roots.add(root_id)
            self._nudge.set()

    # --- control ------------------------------------------------------------------------
    def _cancel_local(self, run_id: str) -> None:
        task = self._active.get(run_id)
        if task is not None and not task.done():
            self._cancelling.add(run_id)
            task.cancel()

    async def cancel(self, run_id: str, workspace: str | None = None) -> list[str]:
        """Stop a run and all its descendants, wherever they execute."""
        ids = await self.store.request_cancel(workspace or self.workspace, run_id)
        if not ids:
            rec = await self.store.get_run(workspace or self.workspace, run_id)
            if rec is None:
                raise NotFound(f"run {run_id} not found")
        for rid in ids:
            self._cancel_local(rid)
            self._notify(rid)
        return ids

    async def resume(self, run_id: str, workspace: str | None = None) -> bool:
        """Make a waiting or failed run runnable again; this worker picks it up."""
        ok = await self.store.requeue(workspace or self.workspace, run_id)
        if ok:
            self._nudge.set()
        return ok

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
        ws = workspace or self.workspace
        rec = await self.store.get_run(ws, run_id)
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
        await self.journal.submit(*ops)
        await self.resume(run_id, ws)

    async def wait(
        self, run_id: str, *, timeout: float | None = None, workspace: str | None = None
    ) -> RunRecord:
        """Wait until the run ends, or parks for a person's decision or
        approval, or waits on children that all do (``waits_for_person``)."""
        ws = workspace or self.workspace
        async with self.deadlines.timeout(timeout):
            while True:
                if run_id in self._held:  # held here: no query, its end wakes us
                    fut: asyncio.Future[RunRecord | None]
                    fut = asyncio.get_running_loop().create_future()
                    self._waiters.setdefault(run_id, []).append(fut)
                    ended = await fut
                    if ended is not None and self._done(ended):
                        return ended
                    continue
                rec = await self.store.get_run(ws, run_id)
                if rec is None:
                    raise NotFound(f"run {run_id} not found")
                if self._done(rec) or await self.waits_for_person(rec):
                    return rec
                fut = asyncio.get_running_loop().create_future()
                self._waiters.setdefault(run_id, []).append(fut)
                try:  # it may be running elsewhere: look again now and then
                    await asyncio.wait_for(asyncio.shield(fut), self.poll_interval)
                except TimeoutError:
                    pass
                finally:
                    lst = self._waiters.get(run_id)
                    if lst and fut in lst:
                        lst.remove(fut)

    async def waits_for_person(self, rec: RunRecord) -> list[RunRecord]:
        """The runs of ``rec``'s tree parked until a person answers (an
        approval, a decision) when nothing else can move ``rec`` on: a run
        waiting on children all of whose unfinished ones wait for people.
        Empty while any part of it can still move on by itself."""
        w = rec.waiting_on
        if rec.status is not RunStatus.WAITING:
            return []
        if type(w) is WaitDecision or type(w) is WaitApproval:
            return [rec]
        if type(w) is not WaitRuns or not w.runs or w.until is not None:
            return []
        kids = w.runs
        held: list[RunRecord] = []
        for rid in kids:
            kid = await self.store.get_run(rec.workspace, rid)
            if kid is None or kid.status.terminal:
                if w.any:
                    return []  # one ended: it is woken
                continue
            mine = await self.waits_for_person(kid)
            if not mine:
                return []
            held.extend(mine)
        return held  # empty if all ended: it is woken

    @staticmethod
    def _done(rec: RunRecord) -> bool:
        """Ended, or parked until a person decides."""
        w = type(rec.waiting_on)
        return rec.status.terminal or (
            rec.status is RunStatus.WAITING and (w is WaitDecision or w is WaitApproval)
        )

    async def result(self, run_id: str, *, timeout: float | None = None) -> Any:
        """The output of a run that succeeded; RunFailed otherwise."""
        rec = await self.wait(run_id, timeout=timeout)
        if rec.status is not RunStatus.SUCCEEDED:
            raise RunFailed(f"run {run_id} {rec.status.value}: {rec.error}")
        return rec.output
