"""What a parked run waits for: one typed record per kind of wait.

A run that parks (``RunStatus.WAITING``) says why in ``RunRecord.waiting_on``:
child runs, a person's decision about a call in doubt, an approval, a kill
switch being lifted, or an event on the bus. Each is a frozen record here;
``Waiting`` is their union, and the kernel finds the waker of a park by the
record's type. The stored JSON is written and read in one place
(``to_stored``/``from_stored``); its shape is the one stores have always
held (``{"runs": [...], "seq": 3}``, ``{"decision": {...}}``, ...), so old
stores read as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal


@dataclass(frozen=True, slots=True)
class WaitRuns:
    """Child runs: all of them to end (``wait_runs``), or any one of them
    (``any``: ``wait_any``), or the clock to pass ``until``."""

    runs: tuple[str, ...]
    #: The step of the wait in the run's journal.
    seq: int
    any: bool = False
    until: float | None = None
    kind: ClassVar[Literal["runs"]] = "runs"


@dataclass(frozen=True, slots=True)
class WaitDecision:
    """A person's answer: a call that was in flight when its worker died
    (``attempt`` counts its attempts), or a workflow step escalated to them."""

    seq: int
    #: The kind of syscall in doubt (``tool``, ``escalate``, ...).
    syscall: str
    request: Any
    attempt: int | None = None
    kind: ClassVar[Literal["decision"]] = "decision"


@dataclass(frozen=True, slots=True)
class WaitApproval:
    """An approval of a call that policy holds for a person (or a supervisor)."""

    id: str
    seq: int
    syscall: str
    #: The call as it will run, once approved.
    request: Any
    reason: str | None
    assignee: str | None
    kind: ClassVar[Literal["approval"]] = "approval"


@dataclass(frozen=True, slots=True)
class WaitPaused:
    """A kill switch (``scope``: ``all``, ``agent:NAME``, ...) to be lifted."""

    scope: str
    kind: ClassVar[Literal["paused"]] = "paused"


@dataclass(frozen=True, slots=True)
class WaitEvent:
    """The first event on ``topic`` matching ``match``, after event ``after``."""

    topic: str
    match: dict[str, Any]
    after: int
    seq: int
    kind: ClassVar[Literal["event"]] = "event"


Waiting = WaitRuns | WaitDecision | WaitApproval | WaitPaused | WaitEvent


def to_stored(w: Waiting | None) -> dict[str, Any] | None:
    """The stored JSON document of ``w`` (None for none)."""
    if w is None:
        return None
    if type(w) is WaitRuns:
        doc: dict[str, Any] = {"runs": list(w.runs)}
        if w.any:
            doc["any"] = True
        doc["seq"] = w.seq
        if w.until is not None:
            doc["until"] = w.until
        return doc
    if type(w) is WaitDecision:
        d: dict[str, Any] = {"seq": w.seq, "kind": w.syscall, "request": w.request}
        if w.attempt is not None:
            d["attempt"] = w.attempt
        return {"decision": d}
    if type(w) is WaitApproval:
        return {"approval": {"id": w.id, "seq": w.seq, "kind": w.syscall, "request": w.request,
                             "reason": w.reason, "assignee": w.assignee}}  # fmt: skip
    if type(w) is WaitPaused:
        return {"paused": w.scope}
    if type(w) is WaitEvent:
        return {"event": {"topic": w.topic, "match": w.match, "after": w.after}, "seq": w.seq}
    raise TypeError(f"not a wait: {w!r}")  # pragma: no cover - Waiting is closed


def from_stored(doc: Any) -> Waiting | None:
    """The record of a stored document (None for none); ValueError for a
    document no version of orgos wrote."""
    if not doc:
        return None
    if not isinstance(doc, dict):
        raise ValueError(f"not a stored wait: {doc!r}")
    if "runs" in doc or "until" in doc:
        until = doc.get("until")
        return WaitRuns(tuple(doc.get("runs") or ()), int(doc.get("seq", 0)),
                        bool(doc.get("any")), None if until is None else float(until))  # fmt: skip
    if (d := doc.get("decision")) is not None:
        attempt = d.get("attempt")
        return WaitDecision(int(d["seq"]), str(d["kind"]), d.get("request"),
                            None if attempt is None else int(attempt))  # fmt: skip
    if (a := doc.get("approval")) is not None:
        return WaitApproval(str(a["id"]), int(a.get("seq", -1)), str(a.get("kind", "")),
                            a.get("request"), a.get("reason"), a.get("assignee"))  # fmt: skip
    if "paused" in doc:
        return WaitPaused(str(doc["paused"]))
    if (e := doc.get("event")) is not None:
        return WaitEvent(str(e["topic"]), dict(e.get("match") or {}), int(e.get("after", 0)),
                         int(doc.get("seq", 0)))  # fmt: skip
    raise ValueError(f"not a stored wait: {sorted(doc)}")
