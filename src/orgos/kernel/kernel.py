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
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import pydantic_core

from orgos.config.limits import Limits
from orgos.errors import NotFound, RunFailed, WorkspaceError
from orgos.ids import IdSource
from orgos.kernel.deadlines import Deadlines
from orgos.kernel.events import EventHub
from orgos.kernel.execution import RunExecutor
from orgos.kernel.host import tune_collector
from orgos.kernel.journal import Journal
from orgos.kernel.limits import BlobSink, TreeLimits
from orgos.kernel.program import Program
from orgos.kernel.recovery import Recovery
from orgos.kernel.scheduler import Scheduler
from orgos.kernel.syscall import Pipeline
from orgos.kernel.timers import WakeTimers
from orgos.kernel.worker import WorkerLoop
from orgos.llm.base import Model, ModelRequest, ModelResponse, TokenSink
from orgos.llm.fallback import Caller, ModelOptions
from orgos.redact import Scrubber
from orgos.store.base import (
    InsertRun,
    Op,
    RunRecord,
    RunStatus,
    Store,
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
    """One worker: runs created, executed, waited on and controlled here.

    Here: the kernel's configuration and plug points (pipeline, wakers,
    run-end hooks, scheduler), starting and stopping the worker, creating
    and submitting runs, waiting for their ends, and cancel and resume.
    Its parts, reached as attributes: ``executor`` (``RunExecutor``: each
    run's task, its end recorded, the check after a park), ``worker``
    (``WorkerLoop``: the lease, the dispatcher, the store's change notices,
    the fence) and ``recovery`` (``Recovery``: the sweep at start and the
    answers for calls in doubt). The tables of the runs this worker holds
    are the kernel's, shared by its parts."""

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
        self.events = EventHub()
        self.deadlines = Deadlines()
        self.max_active = max_active
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        #: Run and worker ids come from this kernel's own generator.
        self.new_id = IdSource()
        self.worker_id = self.new_id("w-")
        #: The fence token of each run this worker executes, as it claimed
        #: it: the journal's batches carry them (``orgos.store.fencing``).
        self.claims: dict[str, int] = {}
        self.journal = Journal(store, self.worker_id, self.claims, self._runs_lost)
        #: A clean stop waits this long for unrepeatable calls in flight.
        self.drain_timeout = drain_timeout
        self.tune_gc = tune_gc
        #: None: claim any runnable run (a worker). A set: only runs of these
        #: trees, e.g. a CLI that follows one run and must not adopt others.
        self.roots: set[str] | None = None if adopt else set()
        self._init_runs()
        self.timers = WakeTimers(store, self._nudge.set)
        self._caller = Caller(self.models, self.model_options, model_timeout, model_retries,
                              retry_backoff, self.deadlines.timeout)  # fmt: skip
        #: The parts: executing runs, the worker's loops, recovery.
        self.executor = RunExecutor(self)
        self.worker = WorkerLoop(self)
        self.recovery = Recovery(self)
        self._init_plug_points()

    def _init_runs(self) -> None:
        """The tables of the runs this worker holds, shared by its parts."""
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
        #: Runs whose park is committed and being checked (check-after-park).
        self._parking: set[str] = set()
        self._nudge = asyncio.Event()
        self._started = False
        self._context = contextvars.copy_context()

    def _init_plug_points(self) -> None:
        """Where services plug in when the runtime is assembled."""
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
            WaitRuns: self.executor.children_waker,
            WaitDecision: _answered_after_park,
        }
        #: Called with the record of every run that ends on this worker
        #: (routing's circuit breakers listen here). Must not raise.
        self.on_run_end: list[Callable[[RunRecord], None]] = []
        #: Called with the record of every run this worker starts executing
        #: (new, claimed, woken or resumed). Must not raise.
        self.on_run_start: list[Callable[[RunRecord], None]] = []
        #: Per-agent limits and fair share between teams (None: first come).
        self.scheduler: Scheduler | None = None

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
        await self.worker.join()
        self._started = True
        self.stopping = False
        self.draining.clear()
        self.worker.listen()
        if recover:
            await self.recovery.sweep()
            self.worker.dispatch()

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
        self.worker.halt()
        await self.timers.close()
        busy = []
        for rid, t in list(self._active.items()):
            (busy.append(t) if rid in self.in_effect else t.cancel())
        if busy:
            await asyncio.wait(busy, timeout=self.drain_timeout)
        tasks = list(self._active.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*self.worker.tasks, *tasks, return_exceptions=True)
        self.worker.tasks.clear()
        self.threads.shutdown()  # never waits: a hung tool's thread ends when it may
        self.deadlines.close()
        await self.journal.close()
        with contextlib.suppress(Exception):
            await self.store.workers.remove(self.worker_id)

    async def __aenter__(self) -> Kernel:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

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
                self.executor.launch(rec, [])
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

    async def ended_children(self, parent: RunRecord, run_ids: list[str]) -> list[RunOutcome]:
        """The outcomes of those of ``run_ids`` (children of ``parent``) that ended."""
        return await self.store.children.ended(parent.workspace, run_ids)

    def _runs_lost(self, runs: frozenset[str]) -> None:
        """The journal refused these runs' writes: another worker claimed them."""
        self.executor.lost(runs)

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

    def nudge(self) -> None:
        """Look for runnable runs now (a service made some runnable)."""
        self._nudge.set()

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

    async def wait(
        self, run_id: str, *, timeout: float | None = None, workspace: str | None = None
    ) -> RunRecord:
        """Wait until the run ends, or parks for a person's decision or
        approval, or waits on children that all do (``waits_for_person``)."""
        ws = workspace or self.workspace
        async with self.deadlines.timeout(timeout):
            while True:
                if run_id in self._held or run_id in self._parking:  # its end wakes us
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
