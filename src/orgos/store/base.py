"""The Store protocol: everything the kernel keeps, behind one interface.

Every record carries a workspace (the tenant) so that sharing one database
between organizations never needs a migration of meaning. Writes come in
batches (the journal's group commit) and every batch is fenced: a worker that
lost its lease cannot write.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from orgos.store.repos import (
        AgentsRepo,
        ApprovalsRepo,
        AuditRepo,
        BlobsRepo,
        BusRepo,
        ChildrenRepo,
        FilesRepo,
        GovernanceRepo,
        LoadRepo,
        MemoryRepo,
        PeopleRepo,
        RetentionRepo,
        SchedulingRepo,
        UsageRepo,
        WorkersRepo,
    )

from orgos.store.waiting import Waiting


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class Durability(StrEnum):
    """How far an acknowledged journal entry is safe.

    ``kill_safe``: survives the process being killed (the OS has the data).
    ``power_safe``: survives power loss (an fsync, shared by group commit,
    happens before any result is acknowledged)."""

    KILL_SAFE = "kill-safe"
    POWER_SAFE = "power-safe"


@dataclass(slots=True)
class RunRecord:
    id: str
    workspace: str
    kind: str
    target: str
    target_version: int
    input: Any
    parent_id: str | None = None
    root_id: str = ""
    status: RunStatus = RunStatus.QUEUED
    output: Any = None
    error: str | None = None
    waiting_on: Waiting | None = None
    owner: str | None = None
    fence: int = 0
    priority: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    cancel_requested: bool = False
    #: The run has read untrusted content (directly, or through data that
    #: carried it: a child's outcome, a file, a memory, an event).
    tainted: bool = False


#: "decision" records a person's answer about an in-doubt syscall.
Phase = Literal["intent", "result", "status", "decision"]


@dataclass(slots=True)
class JournalEntry:
    """One line of a run's journal. Intents and results of a syscall share a seq."""

    run_id: str
    seq: int
    phase: Phase
    kind: str
    payload: Any
    workspace: str = ""
    ts: float = 0.0


@dataclass(slots=True)
class InsertRun:
    run: RunRecord
    #: The stored JSON of this op's values, set once by ``codec.prepare``
    #: (when the op is submitted) and written by the batch as it is.
    encoded: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class UpdateRun:
    """Set a run's status (and the fields that go with it) in the same batch
    as the journal entries that explain it."""

    run_id: str
    status: RunStatus
    output: Any = None
    error: str | None = None
    waiting_on: Waiting | None = None
    release: bool = False  # clear the owner, so any worker may claim the run
    tainted: bool = False  # the run is tainted now (taint is never taken back)
    #: The stored JSON of this op's values, set once by ``codec.prepare``
    #: (when the op is submitted) and written by the batch as it is.
    encoded: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Append:
    entry: JournalEntry
    #: The stored JSON of this op's values, set once by ``codec.prepare``
    #: (when the op is submitted) and written by the batch as it is.
    encoded: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Audit:
    """An audit record. Committed in the batch of the journal entries it is
    about, so the audit log cannot diverge from the effects: the store chains
    it to the previous record and binds it to those entries' stored bytes
    (``run_id`` and ``seq`` name them)."""

    workspace: str
    actor: str
    action: str
    run_id: str | None = None
    seq: int | None = None
    data: Any = None
    ts: float = 0.0
    #: The stored JSON of this op's values, set once by ``codec.prepare``
    #: (when the op is submitted) and written by the batch as it is.
    encoded: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Usage:
    """A model call's usage and spend, committed with its result: what
    budgets (on every worker) are kept from (``store.usage``)."""

    workspace: str
    run_id: str
    seq: int
    #: The agent acting (a run may act for another agent: a supervisor's choice).
    agent: str
    model_key: str
    model: str
    input_tokens: int
    output_tokens: int
    cost: float
    worker: str | None = None
    ts: float = 0.0
    #: Nothing to encode (no JSON): the journal writer leaves it as it is.
    encoded: tuple[Any, ...] | None = field(default=(None,), repr=False, compare=False)


Op = InsertRun | UpdateRun | Append | Audit | Usage


@dataclass(slots=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    lease_until: float
    fenced: bool = False


@dataclass(slots=True)
class AgentVersion:
    workspace: str
    name: str
    version: int
    digest: str
    spec: dict[str, Any]
    created_at: float = 0.0


@dataclass(slots=True)
class RunFilter:
    workspace: str
    statuses: list[RunStatus] = field(default_factory=list)
    parent_id: str | None = None
    root_id: str | None = None
    top_level_only: bool = False
    #: runs whose id starts with this (the CLI accepts unique id prefixes)
    id_prefix: str | None = None
    limit: int = 100


@dataclass(slots=True, frozen=True)
class Change:
    """What a store tells its listeners about runs another worker changed:
    one of ``workspace`` became claimable (``runnable``, ``run_id`` None),
    or run ``run_id`` ended (``ended``)."""

    kind: Literal["runnable", "ended"]
    workspace: str
    run_id: str | None = None


Listener = Callable[[Change], None]


class Store(Protocol):
    """Everything orgos keeps. The store itself is the runs and journal
    repository (the kernel's hot path); the other tables (workers and their
    leases, agent versions, ...) are behind the repositories it holds
    (``orgos.store.repos``). SQLite and PostgreSQL implement it and pass
    ``orgos.testing.conformance``."""

    durability: Durability

    @property
    def workers(self) -> WorkersRepo: ...
    @property
    def agents(self) -> AgentsRepo: ...
    @property
    def scheduling(self) -> SchedulingRepo: ...
    @property
    def children(self) -> ChildrenRepo: ...
    @property
    def loads(self) -> LoadRepo: ...
    @property
    def approvals(self) -> ApprovalsRepo: ...
    @property
    def governance(self) -> GovernanceRepo: ...
    @property
    def usage(self) -> UsageRepo: ...
    @property
    def audit(self) -> AuditRepo: ...
    @property
    def people(self) -> PeopleRepo: ...
    @property
    def files(self) -> FilesRepo: ...
    @property
    def blobs(self) -> BlobsRepo: ...
    @property
    def bus(self) -> BusRepo: ...
    @property
    def memory(self) -> MemoryRepo: ...
    @property
    def retention(self) -> RetentionRepo: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` (on the event loop) when runs change in the store,
        by this process or another, so that a worker need not poll; returns
        the function that stops it. A backend that cannot tell (SQLite)
        never calls it: its workers look now and then (``poll_interval``)."""
        ...

    # --- writes: one atomic, fenced batch -------------------------------------
    async def write_batch(
        self, worker_id: str, ops: list[Op], fences: Mapping[str, int] | None = None
    ) -> None:
        """Apply all ops in one transaction, durable to ``durability`` on return.

        Raises FencedOut (and writes nothing) if ``worker_id`` has been fenced
        or is unknown; and, naming them in its ``runs``, if the ops write for
        runs of ``fences`` (run id: the fence token this worker claimed it
        with) whose token in the store is another (``orgos.store.fencing``).
        The check is part of the statement that checks the worker."""
        ...

    # --- runs -----------------------------------------------------------------
    async def get_run(self, workspace: str, run_id: str) -> RunRecord | None: ...

    async def list_runs(self, flt: RunFilter) -> list[RunRecord]: ...

    async def load_journal(self, run_id: str) -> list[JournalEntry]: ...

    async def tree_size(self, workspace: str, root_id: str) -> int:
        """How many runs the tree under ``root_id`` holds (the root counted)."""
        ...

    async def request_cancel(self, workspace: str, run_id: str) -> list[str]:
        """Mark a run and all its descendants for cancellation. Runs that hold
        no task (queued, waiting) are cancelled at once; running ones are
        flagged for their owner. Returns the ids affected."""
        ...

    async def cancel_requests(self, worker_id: str) -> list[str]:
        """Ids of running runs owned by this worker that were asked to stop."""
        ...

    async def wake_if_ready(self, workspace: str, run_id: str, ended: str | None = None) -> bool:
        """If the run (of ``workspace``) waits on child runs that have all ended (or, waiting for
        any, one has), make it queued (unowned) and return True. ``ended``: a
        child known to have just ended, which spares the search when the run
        waits for any. Safe to call from several places at once."""
        ...

    async def wake_all_ready(self, workspaces: Collection[str]) -> int:
        """Sweep: wake every waiting run of ``workspaces`` whose children have
        all ended (a worker sweeps only the workspaces it serves)."""
        ...

    async def requeue(self, workspace: str, run_id: str) -> bool:
        """Make a waiting or failed run claimable again (``orgos resume``)."""
        ...

    # --- claims ----------------------------------------------------------------
    async def claim_runs(
        self,
        worker_id: str,
        limit: int,
        now: float,
        roots: Collection[str] | None = None,
        *,
        workspaces: Collection[str],
    ) -> list[RunRecord]:
        """Take up to ``limit`` runnable runs of ``workspaces`` (never another
        workspace's): queued ones nobody owns, and unfinished ones whose
        owner's lease expired (that owner is fenced). With ``roots``, only
        runs of those trees. Each claim increments the run's fence token."""
        ...
