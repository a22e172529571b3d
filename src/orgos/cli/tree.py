"""A run tree read back from the store: each run with its steps (one per
syscall, rebuilt from the journal) and its children under the delegate step
that started them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orgos.result import Result
from orgos.store.waiting import WaitDecision, to_stored

if TYPE_CHECKING:
    from orgos.runtime import Runtime
    from orgos.store.base import JournalEntry, RunRecord


@dataclass
class Step:
    """One syscall of a run: its request, its result (None while in flight)."""

    seq: int
    kind: str
    request: Any = None
    result: Any = None
    done: bool = False
    started: float | None = None
    ended: float | None = None
    decision: Any = None
    children: list[RunNode] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None or not self.started:
            return None
        return max(0.0, self.ended - self.started)

    @property
    def tokens(self) -> tuple[int, int]:
        if self.kind != "llm":
            return 0, 0
        _, value, _ = outcome(self.result)
        usage = value.get("usage") if isinstance(value, dict) else None
        if not isinstance(usage, dict):
            return 0, 0
        return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))


@dataclass
class RunNode:
    run: RunRecord
    journal: list[JournalEntry]
    steps: list[Step] = field(default_factory=list)
    children: list[RunNode] = field(default_factory=list)
    #: Children no delegate step accounts for (shown after the steps).
    orphans: list[RunNode] = field(default_factory=list)

    def walk(self) -> list[RunNode]:
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out

    @property
    def own_tokens(self) -> tuple[int, int]:
        i = o = 0
        for s in self.steps:
            a, b = s.tokens
            i, o = i + a, o + b
        return i, o

    @property
    def tokens(self) -> tuple[int, int]:
        """Input and output tokens of this run and all its descendants."""
        i = o = 0
        for n in self.walk():
            a, b = n.own_tokens
            i, o = i + a, o + b
        return i, o

    @property
    def seconds(self) -> float:
        return run_seconds(self.run)

    @property
    def in_doubt(self) -> int | None:
        """The step a person must decide about, if the run is parked on one."""
        w = self.run.waiting_on
        return w.seq if type(w) is WaitDecision else None


def run_seconds(run: RunRecord) -> float:
    end = run.updated_at if run.status.terminal else time.time()
    return max(0.0, (end or run.created_at) - run.created_at)


def steps_of(journal: list[JournalEntry]) -> list[Step]:
    steps: dict[int, Step] = {}
    for e in journal:
        if e.phase == "status":
            continue
        step = steps.get(e.seq)
        if step is None:
            step = steps[e.seq] = Step(e.seq, e.kind)
        if e.phase in ("intent", "result"):
            step.kind = e.kind  # a decision (an approval) may come first
        if e.phase == "intent":
            step.request, step.started = e.payload, e.ts or step.started
            step.done, step.result, step.ended = False, None, None  # a retried call
        elif e.phase == "result":
            step.result, step.done, step.ended = e.payload, True, e.ts
            step.started = step.started or e.ts
        elif e.phase == "decision":
            step.decision = e.payload
    return [steps[k] for k in sorted(steps)]


def outcome(result: Any) -> tuple[bool, Any, Any]:
    """``(ok, value, error)`` of a journaled result (see ``orgos.result``)."""
    if not isinstance(result, dict):
        return True, result, None
    r = Result.from_payload(result)
    return r.ok, r.value, r.error


def child_ids(step: Step) -> list[str]:
    if step.kind != "delegate" or not isinstance(step.result, dict):
        return []
    ids = step.result.get("ok")
    return [str(i) for i in ids] if isinstance(ids, list) else []


async def load_tree(rt: Runtime, run_id: str) -> RunNode:
    """The run named by ``run_id`` (an id or a unique prefix) and its descendants."""
    root = await rt.get_run(run_id)
    runs = await rt.history.tree(root.id)
    nodes = {r.id: RunNode(r, await rt.history.journal(r.id)) for r in sorted(runs, key=_created)}
    for node in nodes.values():
        node.steps = steps_of(node.journal)
        parent = nodes.get(node.run.parent_id or "")
        if parent is not None and node.run.id != root.id:
            parent.children.append(node)
    for node in nodes.values():
        placed: set[str] = set()
        for step in node.steps:
            for cid in child_ids(step):
                child = nodes.get(cid)
                if child is not None:
                    step.children.append(child)
                    placed.add(cid)
        node.orphans = [c for c in node.children if c.run.id not in placed]
    return nodes[root.id]


def _created(r: RunRecord) -> tuple[float, str]:
    return r.created_at, r.id


def tree_json(node: RunNode) -> dict[str, Any]:
    """The tree and every journal, as plain JSON."""
    r = node.run
    i, o = node.own_tokens
    return {
        "id": r.id,
        "agent": r.target,
        "version": r.target_version,
        "kind": r.kind,
        "status": r.status.value,
        "parent_id": r.parent_id,
        "root_id": r.root_id,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "seconds": round(node.seconds, 3),
        "input": r.input,
        "output": r.output,
        "error": r.error,
        "waiting_on": to_stored(r.waiting_on),
        "tokens": {"input": i, "output": o},
        "journal": [
            {"seq": e.seq, "phase": e.phase, "kind": e.kind, "payload": e.payload, "ts": e.ts}
            for e in node.journal
        ],
        "children": [tree_json(c) for c in node.children],
    }
