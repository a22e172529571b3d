"""The typed records the store's repositories return (and take): every
backend hands back these, never its rows (``orgos.store.repos``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: Who wrote a file version.
AuthorKind = Literal["agent", "person", "system"]
TokenState = Literal["active", "expired", "revoked"]
ApprovalStatus = Literal["pending", "approved", "denied"]


# --- scheduling and runs ------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Candidate:
    """A claimable run, as the scheduler weighs it."""

    id: str
    kind: str
    target: str
    priority: int
    created_at: float


# --- governance ---------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Approval:
    id: str
    workspace: str
    run_id: str
    step: int
    agent: str
    kind: str
    request: Any
    rule: str | None
    reason: str | None
    status: str  # pending | approved | denied
    assignee: str | None
    escalations: int
    due_at: float | None
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    note: str | None = None
    #: Arguments a person edited before approving (a tool call's arguments).
    arguments: Any = None


@dataclass(slots=True, frozen=True)
class Notice:
    """A bus event committed with the change it announces."""

    topic: str
    data: Any
    source: str = "kernel"


@dataclass(slots=True, frozen=True)
class AuditEntry:
    """An audit record to append (the store chains and seals it)."""

    workspace: str
    actor: str
    action: str
    run_id: str | None = None
    step: int | None = None
    data: Any = None


@dataclass(slots=True, frozen=True)
class AuditHead:
    """The last record of the audit chain (seq 0 and the genesis hash when empty)."""

    seq: int
    hash: str


@dataclass(slots=True)
class AuditRow:
    """A record of the audit chain as stored."""

    seq: int
    ts: float
    workspace: str
    actor: str
    action: str
    run_id: str | None
    step: int | None
    data: str | None
    request_sha: str | None
    result_sha: str | None
    prev: str
    hash: str


@dataclass(slots=True)
class Verdict:
    """What verifying the audit chain found."""

    ok: bool
    records: int
    head: str
    problems: list[str]
    #: The seq of the last record (0 for an empty log): ``SEQ:HEAD`` is the
    #: head to keep elsewhere.
    seq: int = 0
    #: Records sealed with the key (when verified with one).
    sealed: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class Token:
    """An API token of one workspace (only its sha256 is kept)."""

    id: str
    workspace: str
    person: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def state(self, now: float) -> TokenState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


@dataclass(slots=True, frozen=True)
class Access:
    """What a sign-in check reads: the workspace's people and roles, and the
    record of the token presented (None: none, or unknown)."""

    people: dict[str, str]
    token: Token | None


@dataclass(slots=True, frozen=True)
class LlmUsage:
    """One model call's usage (``run_target``: the agent the run is of)."""

    run_id: str
    run_target: str
    model_key: str
    model: str
    input_tokens: int
    output_tokens: int


@dataclass(slots=True, frozen=True)
class Spend:
    """One model call's spend, in the order calls were recorded (``seq``):
    what other workers read to keep a day's budget."""

    seq: int
    ts: float
    agent: str
    tokens: int
    cost: float
    worker: str | None


@dataclass(slots=True, frozen=True)
class DayUsage:
    """A day's calls so far and the spend seq they go up to (read in one
    snapshot: ``spend_after(seq)`` returns exactly the calls after them)."""

    calls: list[LlmUsage]
    seq: int


# --- the shared workspace -------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class BusEvent:
    id: int
    topic: str
    data: Any
    source: str | None
    run_id: str | None
    key: str | None
    ts: float
    #: Published by a run that had read untrusted content.
    tainted: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "topic": self.topic, "data": self.data, "source": self.source,
             "run_id": self.run_id, "key": self.key, "ts": self.ts}  # fmt: skip
        if self.tainted:
            d["tainted"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BusEvent:
        return cls(d["id"], d["topic"], d.get("data"), d.get("source"), d.get("run_id"),
                   d.get("key"), d.get("ts", 0.0), bool(d.get("tainted")))  # fmt: skip


@dataclass(slots=True, frozen=True)
class Published:
    """An event's id, and whether it is new (False: its key was seen before)."""

    id: int
    new: bool


@dataclass(slots=True, frozen=True)
class FileVersion:
    path: str
    version: int
    blob: str | None  # None: the file was deleted in this version
    size: int
    author_kind: str
    author: str
    run_id: str | None
    ts: float
    #: Written by a run that had read untrusted content: whoever reads it has too.
    tainted: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "version": self.version, "blob": self.blob,
             "size": self.size, "author_kind": self.author_kind, "author": self.author,
             "run_id": self.run_id, "ts": self.ts}  # fmt: skip
        if self.tainted:
            d["tainted"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileVersion:
        return cls(d["path"], d["version"], d.get("blob"), d["size"], d["author_kind"],
                   d["author"], d.get("run_id"), d.get("ts", 0.0),
                   bool(d.get("tainted")))  # fmt: skip


@dataclass(slots=True, frozen=True)
class Written:
    """A file version, and whether it is new (False: its key was used before)."""

    version: FileVersion
    new: bool


@dataclass(slots=True, frozen=True)
class FileRef:
    path: str
    version: int


@dataclass(slots=True, frozen=True)
class Lineage:
    """Which run wrote a version, and what that run had read before."""

    version: FileVersion
    read: list[FileRef]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version.to_dict(), "run_id": self.version.run_id,
                "read": [{"path": r.path, "version": r.version} for r in self.read]}  # fmt: skip


@dataclass(slots=True, frozen=True)
class MemoryItem:
    id: int
    scope: str
    text: str
    tags: str
    source_run: str | None
    author: str
    ts: float
    score: float = 0.0
    #: Remembered by a run that had read untrusted content.
    tainted: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "scope": self.scope, "text": self.text, "tags": self.tags,
             "source_run": self.source_run, "author": self.author, "ts": self.ts,
             "score": self.score}  # fmt: skip
        if self.tainted:
            d["tainted"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemoryItem:
        return cls(d["id"], d["scope"], d["text"], d.get("tags", ""), d.get("source_run"),
                   d["author"], d.get("ts", 0.0), d.get("score", 0.0),
                   bool(d.get("tainted")))  # fmt: skip


@dataclass(slots=True, frozen=True)
class Embedding:
    """A text's vector by one model (stored normalized)."""

    model: str
    vector: list[float]


@dataclass(slots=True, frozen=True)
class Remembered:
    id: int
    new: bool


# --- retention ------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Prune:
    """What to let go (None: keep all of that kind)."""

    journal_days: float | None = None
    event_days: float | None = None
    file_versions: int | None = None
    file_version_days: float | None = None


@dataclass(slots=True, frozen=True)
class Pruned:
    """What a prune removed (or, dry, would remove), and the blobs still
    referenced afterwards (by a file version or a kept journal)."""

    runs: int
    journal_entries: int
    journal_bytes: int
    events: int
    event_bytes: int
    file_versions: int
    live_blobs: frozenset[str]
