"""The limits a kernel holds runs to (see ``orgos.config.limits``): how deep
a tree of runs goes and how many runs it holds, and what becomes of a tool
result too large for the model and the journal.

Depths and tree sizes are counted here, per worker: the store is asked once
for a tree this worker has not seen (after a restart, or a tree begun by
another worker), then each run this worker creates is counted as it is made.
"""

from __future__ import annotations

from typing import Any, Protocol

from orgos.config.limits import Limits
from orgos.errors import OrgosError
from orgos.store.base import RunRecord, Store

#: Entries the depth and size caches keep before they forget the oldest half.
_CACHE = 100_000


class LimitReached(OrgosError):
    """A run reached one of its limits; the message names it and its value."""


class BlobSink(Protocol):
    """Where the whole of a large tool result is kept (the workspace's blobs)."""

    async def put(self, data: bytes) -> str: ...


class TreeLimits:
    def __init__(self, store: Store, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        self._depth: dict[str, int] = {}
        self._size: dict[str, int] = {}

    def started(self, run: RunRecord) -> None:
        """A top-level run was made here: a tree of one, at depth 0."""
        _put(self._depth, run.id, 0)
        _put(self._size, run.id, 1)

    async def admit(self, parent: RunRecord, children: int = 1) -> int:
        """Count ``children`` new runs under ``parent``; their depth. Raises
        LimitReached when they would go deeper, or make the tree larger,
        than the limits allow."""
        depth = await self.depth(parent) + 1
        lim = self.limits
        if depth > lim.delegation_depth:
            raise LimitReached(
                f"delegation depth limit {lim.delegation_depth} reached: run {parent.id} is at"
                f" depth {depth - 1} of its tree (limits.delegation_depth)"
            )
        root = parent.root_id or parent.id
        size = self._size.get(root)
        if size is None:
            size = await self.store.tree_size(parent.workspace, root)
        if size + children > lim.runs_per_tree:
            raise LimitReached(
                f"runs per tree limit {lim.runs_per_tree} reached: the tree of {root} holds"
                f" {size} runs (limits.runs_per_tree)"
            )
        _put(self._size, root, size + children)
        return depth

    def created(self, run: RunRecord, depth: int) -> None:
        _put(self._depth, run.id, depth)

    async def depth(self, run: RunRecord) -> int:
        """How far ``run`` is from its tree's top. Not known here, it is
        looked up the parents' chain in the store, no further than the limit."""
        known = self._depth.get(run.id)
        if known is not None:
            return known
        chain = [run]  # chain[-1]'s depth is ``base``; each one below is one deeper
        while True:
            top = chain[-1]
            if top.parent_id is None:
                base = 0
                break
            up = self._depth.get(top.parent_id)
            if up is not None:
                base = up + 1
                break
            if len(chain) > self.limits.delegation_depth:
                return len(chain)  # past the limit: by how much does not matter
            parent = await self.store.get_run(run.workspace, top.parent_id)
            if parent is None:  # removed by retention: count from here
                base = 0
                break
            chain.append(parent)
        for i, rec in enumerate(reversed(chain)):
            _put(self._depth, rec.id, base + i)
        return base + len(chain) - 1


def _put(cache: dict[str, int], key: str, value: int) -> None:
    if len(cache) > _CACHE:
        for k in list(cache)[: _CACHE // 2]:
            del cache[k]
    cache[key] = value


def view_of(value: Any, encoded: str, chars: int) -> str:
    """The beginning of a result too large, as the model reads it: the text
    itself when it is a string, else its JSON."""
    text = value if isinstance(value, str) else encoded
    return text[: max(chars, 256)]
