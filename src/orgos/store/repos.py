"""The store's repositories: every table behind a typed async interface.

A ``Store`` is the runs, journal and leases repository itself (the kernel's
hot path calls it with no indirection) and holds one object per other
repository (``store.bus``, ``store.files`` ...). Only ``orgos.store`` writes
SQL; services call these. Every backend implements them and passes
``orgos.testing.conformance``.

Calls name the workspace whose records they touch, and the actor (a person,
``agent:NAME``, ``kernel``) where the change is audited: the record of a
change commits in the change's transaction."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, Protocol

from orgos.store.base import AgentVersion, RunRecord, WorkerInfo
from orgos.store.outcome import RunOutcome
from orgos.store.records import (
    Approval,
    AuditEntry,
    AuditHead,
    AuditRow,
    AuthorKind,
    BusEvent,
    Candidate,
    DayUsage,
    Embedding,
    FileVersion,
    Lineage,
    LlmUsage,
    MemoryItem,
    Notice,
    Prune,
    Pruned,
    Published,
    Remembered,
    Spend,
    Token,
    Verdict,
    Written,
)

#: Where a store gets the audit key when it writes records (None: keyless).
KeySource = Callable[[], bytes | None]


class WorkersRepo(Protocol):
    """The workers sharing the store, their leases and fences. A fenced
    worker's runs are claimable by others and its writes fail."""

    async def register(self, info: WorkerInfo) -> None:
        """Join (or join again under this id): live, with its lease."""
        ...

    async def renew(self, worker_id: str, lease_until: float) -> bool:
        """Extend a live worker's lease; False if it was fenced meanwhile."""
        ...

    async def remove(self, worker_id: str) -> None:
        """A clean shutdown: release this worker's unfinished runs."""
        ...

    async def all(self) -> list[WorkerInfo]:
        """Every registered worker."""
        ...

    async def fence(self, worker_id: str) -> None:
        """Declare a worker dead: its runs become claimable, its writes fail."""
        ...


class AgentsRepo(Protocol):
    """The versions of agents' specs, per workspace."""

    async def put_version(
        self, workspace: str, name: str, digest: str, spec: dict[str, Any]
    ) -> AgentVersion:
        """Store a spec; if its digest equals the latest version's, return that
        version instead of making a new one."""
        ...

    async def get_version(
        self, workspace: str, name: str, version: int | None = None
    ) -> AgentVersion | None:
        """A given version, or the latest when ``version`` is None."""
        ...


class SchedulingRepo(Protocol):
    """Where the scheduler finds and claims queued runs. The rules of
    ``Store.claim_runs``: claimable is queued and unowned, or unfinished and
    owned by a fenced worker; a claim fences workers whose lease ran out and
    bumps each claimed run's fence token; only the worker's workspaces."""

    async def candidates(
        self, limit: int, roots: Collection[str] | None, workspaces: Collection[str]
    ) -> list[Candidate]:
        """Claimable runs, highest priority first, then oldest."""
        ...

    async def claim(
        self, worker_id: str, run_ids: list[str], now: float, workspaces: Collection[str]
    ) -> list[RunRecord]:
        """Take those of ``run_ids`` still claimable (others took the rest)."""
        ...


class ChildrenRepo(Protocol):
    async def ended(self, workspace: str, run_ids: list[str]) -> list[RunOutcome]:
        """The outcomes of those of ``run_ids`` that ended (any number of ids)."""
        ...


class LoadRepo(Protocol):
    """What routing weighs: how much work each agent has now."""

    async def active_runs(self, workspace: str, agents: Sequence[str]) -> dict[str, int]:
        """Queued and running agent runs per agent (parked ones hold no load)."""
        ...


class ApprovalsRepo(Protocol):
    async def create(self, a: Approval) -> Approval:
        """Insert (audited ``approval.requested``), or return the one already
        there for this run and step."""
        ...

    async def get(self, workspace: str, run_id: str, step: int) -> Approval | None: ...

    async def list(
        self, workspace: str, *, status: str | None = "pending", id_prefix: str | None = None
    ) -> list[Approval]:
        """Oldest first; ``status`` None: all of them."""
        ...

    async def decide(
        self, workspace: str, approval_id: str, status: str, by: str, note: str | None,
        arguments: Any,
    ) -> bool:  # fmt: skip
        """Record ``by``'s decision on a pending approval, its audit record and
        a ``decision`` line in the run's journal, in one transaction. False if
        it was no longer pending."""
        ...

    async def reopen(self, a: Approval) -> bool:
        """An approved call asks again (``a`` holds the new request, rule,
        reason, assignee and due time); False if it was not approved."""
        ...

    async def escalate(
        self,
        workspace: str,
        approval_id: str,
        assignee: str,
        due_at: float | None,
        *,
        expected: int | None = None,
        notice: Callable[[Approval], Notice] | None = None,
    ) -> Approval | None:
        """Move a pending approval to ``assignee`` (only from ``expected``
        escalations: two workers never move it twice); ``notice`` of the moved
        approval is published in the same transaction. None if not moved."""
        ...

    async def mark_asked(self, workspace: str, approval_id: str, escalations: int) -> bool:
        """Note that its assignee (at this escalation) was asked to decide
        (``request["asked"]``); False if noted already or it moved on."""
        ...


class GovernanceRepo(Protocol):
    """Kill switches and the vault's encrypted secrets (changes audited)."""

    async def switches(self, workspace: str) -> dict[str, str]:
        """Paused scopes (``all``, ``agent:NAME``, ``team:NAME``) and why."""
        ...

    async def set_switch(
        self, workspace: str, scope: str, paused: bool, reason: str, actor: str
    ) -> bool:
        """Pause or lift a scope; False if it already was."""
        ...

    async def replace_switch(
        self, workspace: str, scope: str, old: str, new: str | None, actor: str
    ) -> bool:
        """Change a switch's reason from ``old`` to ``new`` (None: lift it),
        only if it still says ``old``."""
        ...

    async def put_secret(
        self, workspace: str, name: str, ciphertext: bytes, actor: str
    ) -> None: ...

    async def secret(self, workspace: str, name: str) -> bytes | None: ...

    async def secret_names(self, workspace: str) -> list[str]: ...


class UsageRepo(Protocol):
    """Model calls' usage and spend, as recorded (``Usage`` ops) with their
    results: what budgets are kept from."""

    async def llm_usage(
        self,
        workspace: str,
        *,
        since: float = 0.0,
        run_id: str | None = None,
        root_id: str | None = None,
    ) -> list[LlmUsage]:
        """Every model call recorded since ``since`` (of one run, or one tree)."""
        ...

    async def day_usage(self, workspace: str, since: float) -> DayUsage: ...

    async def spend_after(self, workspace: str, after: int) -> list[Spend]:
        """The calls recorded after spend seq ``after``, in order."""
        ...


class AuditRepo(Protocol):
    def set_key(self, key: KeySource | None) -> None:
        """Where the key sealing new records comes from (None: keyless)."""
        ...

    async def record(self, *entries: AuditEntry) -> None:
        """Append records to the chain, in one transaction."""
        ...

    async def verify(self, *, key: bytes | None = None, head: AuditHead | None = None) -> Verdict:
        """Walk the chain (and the journal rows its records vouch for)."""
        ...

    async def head(self) -> AuditHead: ...

    async def rows(self, after: int = 0) -> list[AuditRow]: ...


class PeopleRepo(Protocol):
    """People (their roles, per workspace) and their API tokens."""

    async def roles(self, workspace: str) -> dict[str, str]:
        """Person name -> role, of the workspace."""
        ...

    async def set_role(self, workspace: str, name: str, role: str | None, actor: str) -> None:
        """Give a person a role, or (``role`` None) remove them: their tokens
        are revoked for good, in the same transaction."""
        ...

    async def add_token(
        self,
        token_hash: str,
        person: str,
        workspace: str,
        actor: str,
        *,
        expires_at: float | None = None,
    ) -> Token:
        """A token (by its hash) for a person of ``workspace``, valid there
        only; NotFound if they have no role in it."""
        ...

    async def token(self, token_hash: str) -> Token | None:
        """A token's record by its hash (whichever workspace it is of)."""
        ...

    async def tokens(self, workspace: str) -> list[Token]: ...

    async def revoke_token(self, workspace: str, token_id: str, actor: str) -> bool:
        """False if the workspace has no unrevoked token by that id."""
        ...


class FilesRepo(Protocol):
    """Versions of the shared workspace's files (contents are blobs)."""

    async def put(
        self,
        workspace: str,
        path: str,
        blob: str | None,
        size: int,
        author_kind: AuthorKind,
        author: str,
        *,
        run_id: str | None = None,
        seq: int | None = None,
        key: str | None = None,
        tainted: bool = False,
    ) -> Written:
        """A new version (``blob`` None: a deletion) and its ``fs.written``
        event, in one transaction; a ``key`` used before returns that version."""
        ...

    async def get(
        self, workspace: str, path: str, version: int | None = None
    ) -> FileVersion | None:
        """A version, or the latest (a deletion too)."""
        ...

    async def latest(self, workspace: str, prefix: str = "") -> list[FileVersion]:
        """The live files under ``prefix`` (latest versions, deletions left out), by path."""
        ...

    async def history(self, workspace: str, path: str) -> list[FileVersion]: ...

    async def usage(self, workspace: str, prefix: str = "") -> int:
        """Bytes held by the live files under ``prefix``."""
        ...

    async def record_read(
        self, workspace: str, run_id: str, seq: int, path: str, version: int
    ) -> None: ...

    async def lineage(self, workspace: str, path: str, version: int) -> Lineage | None: ...


class BlobsRepo(Protocol):
    """Content-addressed contents (named by their sha256), written once."""

    async def put(self, data: bytes) -> str: ...

    async def get(self, digest: str) -> bytes:
        """NotFound if it is missing."""
        ...

    def exists(self, digest: str) -> bool: ...

    def all_digests(self) -> Iterator[tuple[str, int]]:
        """(digest, size) of every blob."""
        ...

    def mtime(self, digest: str) -> float:
        """When it was written (retention's grace period)."""
        ...

    def remove(self, digest: str) -> int:
        """Remove it; returns the bytes freed (0 if it was not there)."""
        ...


class BusRepo(Protocol):
    """Events per topic, subscribers' cursors, runs parked on a topic.
    Event ids grow in commit order: a cursor never skips an event."""

    async def publish(
        self,
        workspace: str,
        topic: str,
        data: Any,
        *,
        source: str | None = None,
        run_id: str | None = None,
        key: str | None = None,
        tainted: bool = False,
    ) -> Published:
        """Append an event and queue the runs parked on its topic, in one
        transaction; a ``key`` seen before returns the first event's id."""
        ...

    async def publish_many(
        self, workspace: str, topic: str, items: list[tuple[Any, str | None]], source: str
    ) -> list[int]:
        """Several events (data, key) in one transaction."""
        ...

    async def last_id(self, workspace: str, topic: str) -> int: ...

    async def after(
        self, workspace: str, topic: str, after: int, limit: int = 100
    ) -> list[BusEvent]: ...

    async def get(self, workspace: str, event_id: int) -> BusEvent | None: ...

    async def acked(self, workspace: str, subscriber: str, topic: str) -> int | None: ...

    async def set_cursor(
        self, workspace: str, subscriber: str, topic: str, acked: int, *, only_new: bool = False
    ) -> None:
        """Move the cursor forward (never back); ``only_new``: create it if
        missing, leave an existing one alone."""
        ...

    async def park(self, workspace: str, run_id: str, topic: str, after: int) -> None:
        """The run waits for an event on ``topic`` after id ``after``."""
        ...

    async def unpark(self, workspace: str, run_id: str) -> None: ...

    async def wake_if_event(self, workspace: str, run_id: str) -> bool:
        """Queue a parked run whose topic got an event after its mark."""
        ...

    async def wake_all(self, workspace: str) -> int:
        """Queue every parked run of ``workspace`` whose topic got an event."""
        ...


class MemoryRepo(Protocol):
    """Long-term memories, by scope (``agent:NAME``, ``team:NAME``, ``org``)."""

    async def add(
        self,
        workspace: str,
        scope: str,
        text: str,
        *,
        author: str,
        tags: str = "",
        source_run: str | None = None,
        key: str | None = None,
        vector: Embedding | None = None,
        tainted: bool = False,
    ) -> Remembered:
        """Keep a memory (and its embedding); a ``key`` seen before returns
        the first one's id."""
        ...

    async def search(
        self, workspace: str, scopes: list[str], query: str, k: int = 5
    ) -> list[MemoryItem]:
        """Keyword recall: the ``k`` best matches in these scopes, best first."""
        ...

    async def search_vector(
        self, workspace: str, scopes: list[str], model: str, query: list[float], k: int = 5
    ) -> list[MemoryItem]:
        """The ``k`` memories whose embeddings by ``model`` are closest (cosine)."""
        ...

    async def by_ids(self, workspace: str, ids: list[int]) -> dict[int, MemoryItem]: ...

    async def count(self, workspace: str) -> int: ...


class RetentionRepo(Protocol):
    async def prune(self, policy: Prune, now: float, *, dry_run: bool = False) -> Pruned:
        """Remove ended run trees' journals older than the policy, old events
        and file versions (the latest of each file stays), naming the pruned
        runs in the audit log (``retention.pruned``), in one transaction; dry:
        remove nothing, report what would go."""
        ...
