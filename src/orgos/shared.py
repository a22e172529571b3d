"""The shared workspace of an org, assembled: files, memory and the bus on
the runtime's store, plugged into the kernel's syscall pipeline, and offered
to agents as tools within their permissions."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from orgos.agents.loop import BUILTIN_TOOLS
from orgos.bus.service import Bus
from orgos.config.access import MemoryScope
from orgos.config.org import TeamSpec
from orgos.config.specs import AgentSpec
from orgos.errors import OrgosError
from orgos.fs.people import RoleLookup, StaticRoles
from orgos.fs.permissions import agent_grant, agent_memory
from orgos.fs.service import FileLimits, Files
from orgos.kernel.context import RunContext
from orgos.kernel.kernel import Kernel
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.syscall import Syscall, Verdict
from orgos.memory.embed import Embedder
from orgos.memory.service import SCOPES, Memory, SearchMode
from orgos.store.base import Store
from orgos.store.waiting import WaitEvent
from orgos.tools.base import Tool

#: How much of a file an agent's read_file shows the model.
READ_LIMIT = 20_000


#: The key of ``Kernel.services`` under which the shared workspace is found.
WORKSPACE = "workspace"


def workspace_of(ctx: RunContext) -> SharedWorkspace:
    """The shared workspace of a run's runtime: ``workspace_of(ctx).files.read(ctx, path)``."""
    ws = ctx.kernel.services.get(WORKSPACE)
    if not isinstance(ws, SharedWorkspace):
        raise OrgosError("this runtime has no shared workspace")
    return ws


class SharedWorkspace:
    def __init__(
        self,
        store: Store,
        kernel: Kernel,
        registry: AgentRegistry,
        *,
        workspace: str,
        teams: Mapping[str, TeamSpec] | None = None,
        people: RoleLookup | None = None,
        limits: FileLimits | None = None,
        embedder: Embedder | None = None,
        memory_search: SearchMode = "keyword",
    ) -> None:
        self.store = store
        self.kernel = kernel
        teams = dict(teams or {})
        self.teams = teams
        self.blobs = store.blobs
        people = people or StaticRoles({})
        limits = limits or FileLimits()
        self.files = Files(store.files, self.blobs, registry, teams, people, limits, workspace)
        self.memory = Memory(store.memory, registry, teams, embedder=embedder,
                             search=memory_search)  # fmt: skip
        self.bus = Bus(store.bus, kernel, workspace)
        kernel.pipeline.add_before(self.check, kinds=["fs.*", "memory.*", "publish"])
        kernel.wakers[WaitEvent] = self.bus.waker
        kernel.services[BUILTIN_TOOLS] = AgentTools(self)
        kernel.services[WORKSPACE] = self

    async def check(self, sc: Syscall) -> Verdict | None:
        """One before-hook for the workspace's syscalls (others pass at once)."""
        kind = sc.kind
        if kind.startswith("fs."):
            return await self.files.check(sc)
        if kind.startswith("memory."):
            return await self.memory.check(sc)
        if kind == "publish":
            return await self.bus.check(sc)
        return None

    async def start(self) -> None:
        await self.bus.sweep()


def _page(text: str) -> str:
    if len(text) > READ_LIMIT:
        return text[:READ_LIMIT] + f"\n[... {len(text) - READ_LIMIT} more characters]"
    return text


async def read_file(ctx: RunContext, path: str, version: int | None = None) -> dict[str, Any]:
    """Read a file of the shared workspace."""
    v, data = await workspace_of(ctx).files.read(ctx, path, version)
    text = _page(data.decode("utf-8", errors="replace"))
    return {"path": v.path, "version": v.version, "content": text}


async def write_file(ctx: RunContext, path: str, content: str = "") -> dict[str, Any]:
    """Write a file of the shared workspace (a new version)."""
    v = await workspace_of(ctx).files.write(ctx, path, content)
    return {"path": v.path, "version": v.version, "size": v.size}


async def list_files(ctx: RunContext, prefix: str | None = None) -> list[dict[str, Any]]:
    """List the files under a folder of the shared workspace."""
    found = await workspace_of(ctx).files.ls(ctx, prefix or "")
    return [{"path": v.path, "version": v.version, "size": v.size} for v in found[:200]]


async def remember(
    ctx: RunContext, text: str = "", scope: MemoryScope | None = None
) -> dict[str, Any]:
    """Keep a conclusion (a fact or decision) for later runs."""
    mid = await workspace_of(ctx).memory.remember(ctx, text, scope or "agent")
    return {"remembered": mid}


async def recall(ctx: RunContext, query: str = "") -> list[dict[str, Any]]:
    """Search what you and your team remembered before."""
    found = await workspace_of(ctx).memory.recall(ctx, query)
    return [{"text": m.text, "scope": m.scope, "source_run": m.source_run} for m in found]


# The schemas the model is shown say what the signatures cannot (examples).
READ_FILE = Tool(read_file, context=True, parameters={
    "type": "object",
    "properties": {"path": {"type": "string", "description": "e.g. teams/support/notes.md"},
                   "version": {"type": "integer", "description": "an older version"}},
    "required": ["path"],
})  # fmt: skip
WRITE_FILE = Tool(write_file, context=True, parameters={
    "type": "object",
    "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
    "required": ["path", "content"],
})  # fmt: skip
LIST_FILES = Tool(list_files, context=True, parameters={
    "type": "object", "properties": {"prefix": {"type": "string"}},
})  # fmt: skip
REMEMBER = Tool(remember, context=True, parameters={
    "type": "object",
    "properties": {"text": {"type": "string"},
                   "scope": {"type": "string", "enum": list(SCOPES)}},
    "required": ["text"],
})  # fmt: skip
RECALL = Tool(recall, context=True, parameters={
    "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"],
})  # fmt: skip


class AgentTools:
    """File and memory tools for agents whose spec (or team) grants them:
    ``files:`` brings the file tools, ``memory:`` the memory tools. They are
    Tools (``context=True``): their calls are the workspace's syscalls."""

    def __init__(self, ws: SharedWorkspace) -> None:
        self.ws = ws

    def tools(self, spec: AgentSpec) -> list[Tool]:
        team = self.ws.teams.get(spec.team) if spec.team else None
        out: list[Tool] = []
        if spec.files is not None or (team is not None and team.files is not None):
            grant = agent_grant(spec, self.ws.teams)
            if grant.read:
                out += [READ_FILE, LIST_FILES]
            if grant.write:
                out.append(WRITE_FILE)
        if spec.memory is not None or (team is not None and team.memory is not None):
            scopes = agent_memory(spec, self.ws.teams)
            if scopes:
                out += [_with_scopes(sorted(scopes)), RECALL]
        return [t for t in out if t.name not in spec.tools]


def _with_scopes(scopes: list[str]) -> Tool:
    """``remember``, showing the model only the scopes it may use (the
    memory's before-hook checks them all the same)."""
    t = copy.copy(REMEMBER)
    props = {**REMEMBER.parameters["properties"], "scope": {"type": "string", "enum": scopes}}
    t.parameters = {**REMEMBER.parameters, "properties": props}
    return t
