"""Bounds on the work runs may make: how deep delegation goes, how many runs
one tree holds, how many tool calls one model reply makes, how large a model
answer and a tool result are, how wide a ``for_each`` fans out.

Without them a model that delegates to itself, or fans out 20 ways at each
level, makes runs until the disk is full. Each limit reached is an error in
the run that reached it (told to the model where it can act on it); the
runs beside it go on. ``limits:`` in ``orgos.yaml``; ``Runtime(limits=...)``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: How deep a tree of runs may go: a top-level run is at depth 0, the runs
    #: it delegates to at 1. A delegation past this is refused.
    delegation_depth: int = Field(default=8, ge=0)
    #: Runs one tree (a top-level run and all it started, at any depth) may hold.
    runs_per_tree: int = Field(default=5000, ge=1)
    #: Tool calls one model reply may make; the calls past it are not run,
    #: and the model is told why.
    tool_calls_per_reply: int = Field(default=64, ge=1)
    #: Bytes of one model answer (its text and tool-call arguments, as
    #: stored); a larger one fails its run.
    answer_bytes: int = Field(default=1_000_000, ge=1024)
    #: Bytes of a tool result the model reads and the journal holds; a larger
    #: result is kept whole in a blob and the model reads its beginning.
    tool_result_bytes: int = Field(default=100_000, ge=1024)
    #: Items one ``for_each`` step may fan out to.
    for_each: int = Field(default=2000, ge=1)
