"""The exceptions users see. Each says what went wrong and what to do about it."""

from __future__ import annotations


class OrgosError(Exception):
    """Base of every error orgos raises on purpose."""


class ConfigError(OrgosError):
    """A spec file or a Python spec is invalid. The message names file and line."""


class NotFound(OrgosError):
    """An agent, tool, run or model that does not exist was asked for."""


class FencedOut(OrgosError):
    """This worker lost its lease: another worker took over its runs.

    Raised by the store when a write comes from a worker that has been fenced,
    so a paused-then-revived worker can never write over its successor; or,
    with ``runs``, when the batch writes for runs that another worker claimed
    since this one did (their fence token moved on). Nothing was written."""

    def __init__(self, message: str, runs: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        #: The runs whose fence moved on (empty: the worker itself is fenced).
        self.runs = runs


class NondeterminismError(OrgosError):
    """Replay asked for a different syscall than the journal recorded."""


class PayloadError(OrgosError, ValueError):
    """A value cannot be stored as JSON (a lone surrogate, NaN, nesting too
    deep, a type JSON has not). The message says where it sits and why."""


class RunFailed(OrgosError):
    """A run ended in failure; raised to whoever waits for its result."""


class WorkspaceError(OrgosError):
    """Something reached outside its workspace: a worker asked to create a
    run in a workspace it does not serve, or a token used in another one."""


class StoreError(OrgosError):
    """The store cannot be used: its server is unreachable (the message
    names it, without a password), or its schema was written by a newer
    orgos than this one (upgrade orgos; a schema is never downgraded)."""


class AnswerError(OrgosError):
    """A run's answer passed its agent's output schema but the pydantic class
    the agent was given refused it (a validator the schema cannot say)."""
