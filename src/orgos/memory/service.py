"""``remember`` and ``recall`` as syscalls, within the scopes an agent may use.

A memory is a conclusion (a fact, a decision) with the run it came from, not
a transcript: it is short, and it says where it came from."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

from orgos.config.access import MemoryScope
from orgos.config.org import TeamSpec
from orgos.errors import ConfigError
from orgos.fs.paths import AccessDenied
from orgos.fs.permissions import agent_memory
from orgos.kernel.context import RunContext
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.syscall import Syscall, Verdict
from orgos.memory.embed import Embedder
from orgos.memory.fuse import fuse
from orgos.result import Result
from orgos.store.base import RunRecord
from orgos.store.records import Embedding, MemoryItem
from orgos.store.repos import MemoryRepo

log = logging.getLogger("orgos.memory")
MAX_MEMORY_CHARS = 4000
SCOPES: tuple[MemoryScope, ...] = ("agent", "team", "org")


SearchMode = Literal["keyword", "semantic", "hybrid"]


class Memory:
    def __init__(
        self,
        table: MemoryRepo,
        registry: AgentRegistry,
        teams: Mapping[str, TeamSpec],
        *,
        embedder: Embedder | None = None,
        search: SearchMode = "keyword",
    ) -> None:
        if search != "keyword" and embedder is None:
            raise ConfigError(f"memory search {search!r} needs memory.embeddings configured")
        self.table = table
        self.registry = registry
        self.teams = dict(teams)
        self.embedder = embedder
        self.mode: SearchMode = search

    async def add(
        self, workspace: str, scope_key: str, text: str, *, author: str, tags: str = "",
        source_run: str | None = None, key: str | None = None, tainted: bool = False,
    ) -> int:  # fmt: skip
        """Store a memory (with its embedding when an embedder is configured)."""
        vector = None
        if self.embedder is not None:
            vector = Embedding(self.embedder.name, (await self.embedder.embed([text]))[0])
        done = await self.table.add(workspace, scope_key, text, author=author, tags=tags,
                                    source_run=source_run, key=key, vector=vector,
                                    tainted=tainted)  # fmt: skip
        return done.id

    async def search(
        self, workspace: str, scope_keys: list[str], query: str, k: int = 5
    ) -> list[MemoryItem]:
        """Keyword, semantic or hybrid (reciprocal rank fusion of both)."""
        if self.mode == "keyword" or self.embedder is None:
            return await self.table.search(workspace, scope_keys, query, k)
        qvec = (await self.embedder.embed([query]))[0]
        name = self.embedder.name
        if self.mode == "semantic":
            return await self.table.search_vector(workspace, scope_keys, name, qvec, k)
        deep = max(20, 4 * k)
        by_kw = await self.table.search(workspace, scope_keys, query, deep)
        by_vec = await self.table.search_vector(workspace, scope_keys, name, qvec, deep)
        items = {m.id: m for m in (*by_kw, *by_vec)}
        return [items[i] for i in fuse([[m.id for m in by_kw], [m.id for m in by_vec]], k)]

    async def _who(self, run: RunRecord) -> tuple[str, str | None, frozenset[MemoryScope]]:
        if run.kind != "agent":
            return run.target, None, frozenset()
        spec = await self.registry.get(run.workspace, run.target, run.target_version)
        return spec.name, spec.team, agent_memory(spec, self.teams)

    @staticmethod
    def scope_key(scope: str, agent: str, team: str | None) -> str:
        return {"agent": f"agent:{agent}", "team": f"team:{team}", "org": "org"}[scope]

    async def check(self, sc: Syscall) -> Verdict | None:
        """Before-hook for ``memory.*``: the scopes asked for must be granted."""
        if not sc.kind.startswith("memory."):
            return None
        _, _, allowed = await self._who(sc.run)
        asked = sc.request.get("scopes") or []
        for s in asked:
            if s not in SCOPES:
                return Verdict.deny(f"unknown memory scope {s!r}; use agent, team or org")
            if s not in allowed:
                log.warning("denied: run %s (%s) memory scope %s", sc.run.id, sc.run.target, s)
                return Verdict.deny(
                    f"{sc.run.target} may not use {s} memory; it may use:"
                    f" {', '.join(sorted(allowed)) or 'none'}"
                )
        text = sc.request.get("text")
        if sc.kind == "memory.remember" and (not isinstance(text, str) or not text.strip()):
            return Verdict.deny("remember needs a non-empty text")
        if isinstance(text, str) and len(text) > MAX_MEMORY_CHARS:
            return Verdict.deny(
                f"a memory is a conclusion, at most {MAX_MEMORY_CHARS} characters; summarize it"
            )
        return None

    async def remember(
        self, ctx: RunContext, text: str, scope: MemoryScope = "agent", tags: str = ""
    ) -> int:
        """Keep a conclusion for later runs; returns its id."""
        run = ctx.run

        async def execute(sc: Syscall) -> Result:
            agent, team, _ = await self._who(run)
            mid = await self.add(
                run.workspace, self.scope_key(scope, agent, team), text, author=agent,
                tags=tags, source_run=run.id, key=f"{run.id}:{sc.seq}", tainted=run.tainted,
            )  # fmt: skip
            return Result.of(mid)

        req = {"text": text, "scopes": [scope], "tags": tags}
        result = await ctx.syscall("memory.remember", req, execute)
        if not result.ok:
            raise AccessDenied(str(result.error))
        return int(result.value)

    async def recall(
        self, ctx: RunContext, query: str, scopes: list[MemoryScope] | None = None, k: int = 5
    ) -> list[MemoryItem]:
        """The ``k`` memories that best match ``query``, in the given scopes
        (default: every scope this agent may use)."""
        run = ctx.run
        if scopes is None:
            _, _, allowed = await self._who(run)
            scopes = [s for s in SCOPES if s in allowed]

        async def execute(sc: Syscall) -> Result:
            agent, team, _ = await self._who(run)
            keys = [self.scope_key(s, agent, team) for s in scopes]
            found = await self.search(run.workspace, keys, query, k)
            # what a tainted run concluded taints its reader
            return Result.of([m.to_dict() for m in found], tainted=any(m.tainted for m in found))

        req = {"query": query, "scopes": list(scopes), "k": k}
        result = await ctx.syscall("memory.recall", req, execute)
        if not result.ok:
            raise AccessDenied(str(result.error))
        return [MemoryItem.from_dict(d) for d in result.value]
