"""The syscall pipeline: the one road every effect of a run travels.

identity -> kill switch -> policy -> journal intent -> execute -> journal
result -> trace, metrics, audit. The kernel owns the journal and execute
stages; the others are hooks that services plug in when the runtime is
assembled, so none of them can be bypassed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from orgos.result import Result
from orgos.store.base import Op, RunRecord
from orgos.store.waiting import Waiting


@dataclass(slots=True)
class Syscall:
    run: RunRecord
    seq: int
    kind: str
    request: dict[str, Any]
    idempotent: bool = True
    #: Extra store ops committed atomically with the result (e.g. a child run).
    ops: list[Op] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class Verdict:
    """What a before-hook decides. ``None`` from a hook means allow."""

    action: Literal["deny", "park"]
    reason: str
    waiting_on: Waiting | None = None

    @classmethod
    def deny(cls, reason: str) -> Verdict:
        return cls("deny", reason)

    @classmethod
    def park(cls, reason: str, waiting_on: Waiting) -> Verdict:
        return cls("park", reason, waiting_on)


#: Runs before the intent is journaled: identity, kill switch, policy, budgets.
BeforeHook = Callable[[Syscall], Awaitable[Verdict | None]]
#: Runs after the effect, before its result is journaled; may add ops to
#: ``Syscall.ops``, committed with the result (e.g. usage in the audit record).
#: Must not raise.
ResultHook = Callable[[Syscall, Result], None]
#: Runs after the result is journaled: tracing, metrics, audit. Must not raise.
AfterHook = Callable[[Syscall, Result], None]


class Pipeline:
    """Hook points, filled when a Runtime is assembled.

    A before-hook may name the syscall kinds it checks (``"delegate"``, or a
    family as ``"fs.*"``): the pipeline never calls it for the others, so a
    hook for one kind costs the other syscalls nothing. ``before[kind]`` is
    the hooks a syscall of that kind passes, in order."""

    def __init__(self) -> None:
        self._hooks: list[tuple[BeforeHook, tuple[str, ...] | None]] = []
        self.before = _ByKind(self._hooks)
        self.result: list[ResultHook] = []
        self.after: list[AfterHook] = []

    def add_before(self, hook: BeforeHook, *, kinds: Iterable[str] | None = None) -> None:
        """Add a before-hook after those already there (the pipeline's
        order: identity and policy first); ``kinds`` limits it."""
        self._hooks.append((hook, None if kinds is None else tuple(kinds)))
        self.before.clear()


class _ByKind(dict[str, tuple[BeforeHook, ...]]):
    """The before-hooks of each syscall kind, worked out on first use."""

    def __init__(self, hooks: list[tuple[BeforeHook, tuple[str, ...] | None]]):
        super().__init__()
        self._hooks = hooks

    def __missing__(self, kind: str) -> tuple[BeforeHook, ...]:
        hooks = tuple(h for h, kinds in self._hooks if kinds is None or _matches(kind, kinds))
        self[kind] = hooks
        return hooks


def _matches(kind: str, kinds: tuple[str, ...]) -> bool:
    return any(kind == k or (k.endswith(".*") and kind.startswith(k[:-1])) for k in kinds)


class Park(BaseException):
    """Unwinds a run that must wait: it leaves memory and lives in the store
    until an event (a child's end, a decision) wakes it; then it is replayed.

    A BaseException so that agent code catching ``Exception`` cannot swallow it."""

    def __init__(self, reason: str, waiting_on: Waiting | None):
        super().__init__(reason)
        self.reason = reason
        self.waiting_on = waiting_on


class Stopping(BaseException):
    """Unwinds a run at its next syscall while its worker stops cleanly: the
    run is left unfinished, its journal complete, for any worker to resume."""
