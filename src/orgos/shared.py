"""The shared workspace of an org, assembled: files, memory and the bus on
the runtime's store, plugged into the kernel's syscall pipeline, and offered
to agents as tools within their permissions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from orgos.agents.loop import BUILTIN_TOOLS
from orgos.bus.service import Bus
from orgos.bus.table import BusTable
from orgos.config.access import MemoryScope
from orgos.config.org import TeamSpec
from orgos.config.specs import AgentSpec
from orgos.errors import OrgosError
from orgos.fs.blobs import BlobStore
from orgos.fs.people import RoleLookup, StaticRoles
from orgos.fs.permissions import agent_grant, agent_memory
from orgos.fs.service import FileLimits, Files
from orgos.fs.table import FileTable
from orgos.kernel.context import RunContext
from orgos.kernel.kernel import Kernel
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.syscall import Syscall, Verdict
from orgos.llm.base import ToolDef
from orgos.memory.embed import Embedder
from orgos.memory.service import SCOPES, Memory, SearchMode
from orgos.memory.table import MemoryTable
from orgos.store.base import Durability
from orgos.store.sqlite import SQLiteStore
from orgos.store.waiting import WaitEvent
from orgos.tools.base import ToolResult

#: How much of a file an agent's read_file shows the model.
READ_LIMIT = 20_000


#: The key of ``Kernel.services`` under which the shared workspace is found.
WORKSPACE = "workspace"


def workspace_of(ctx: RunContext) -> SharedWorkspace:
    """The shared workspace of a run's runtime: ``workspace_of(ctx).files.read(ctx, path)``."""
    ws = ctx.kernel.services.get(WORKSPACE)
    if not isinstance(ws, SharedWorkspace):
        raise OrgosError("this runtime has no shared workspace (it needs a SQLite store)")
    return ws


def blob_root(store: SQLiteStore) -> Path:
    """``.orgos/orgos.db`` keeps its blobs in ``.orgos/orgos.blobs/``."""
    return store.path.with_suffix(".blobs")


class SharedWorkspace:
    def __init__(
        self,
        store: SQLiteStore,
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
        fsync = store.durability is Durability.POWER_SAFE
        self.blobs = BlobStore(blob_root(store), fsync=fsync)
        people = people or StaticRoles({})
        limits = limits or FileLimits()
        self.files = Files(FileTable(store), self.blobs, registry, teams, people, limits, workspace)
        self.memory = Memory(MemoryTable(store), registry, teams, embedder=embedder,
                             search=memory_search)  # fmt: skip
        self.bus = Bus(BusTable(store), kernel, workspace)
        kernel.pipeline.before.append(self.check)
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


_READ = ToolDef("read_file", "Read a file of the shared workspace.", {
    "type": "object",
    "properties": {"path": {"type": "string", "description": "e.g. teams/support/notes.md"},
                   "version": {"type": "integer", "description": "an older version"}},
    "required": ["path"],
})  # fmt: skip
_WRITE = ToolDef("write_file", "Write a file of the shared workspace (a new version).", {
    "type": "object",
    "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
    "required": ["path", "content"],
})  # fmt: skip
_LIST = ToolDef("list_files", "List the files under a folder of the shared workspace.", {
    "type": "object", "properties": {"prefix": {"type": "string"}},
})  # fmt: skip
_REMEMBER = ToolDef("remember", "Keep a conclusion (a fact or decision) for later runs.", {
    "type": "object",
    "properties": {"text": {"type": "string"},
                   "scope": {"type": "string", "enum": list(SCOPES)}},
    "required": ["text"],
})  # fmt: skip
_RECALL = ToolDef("recall", "Search what you and your team remembered before.", {
    "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"],
})  # fmt: skip


class AgentTools:
    """File and memory tools for agents whose spec (or team) grants them:
    ``files:`` brings the file tools, ``memory:`` the memory tools."""

    def __init__(self, ws: SharedWorkspace) -> None:
        self.ws = ws

    def defs(self, spec: AgentSpec) -> list[ToolDef]:
        team = self.ws.teams.get(spec.team) if spec.team else None
        out: list[ToolDef] = []
        if spec.files is not None or (team is not None and team.files is not None):
            grant = agent_grant(spec, self.ws.teams)
            if grant.read:
                out += [_READ, _LIST]
            if grant.write:
                out.append(_WRITE)
        if spec.memory is not None or (team is not None and team.memory is not None):
            scopes = agent_memory(spec, self.ws.teams)
            if scopes:
                remember = ToolDef(_REMEMBER.name, _REMEMBER.description, {
                    **_REMEMBER.parameters,
                    "properties": {"text": {"type": "string"},
                                   "scope": {"type": "string", "enum": sorted(scopes)}},
                })  # fmt: skip
                out += [remember, _RECALL]
        return [d for d in out if d.name not in spec.tools]

    async def call(self, ctx: RunContext, name: str, args: dict[str, Any]) -> ToolResult:
        ws = self.ws
        try:
            if name == "read_file":
                v, data = await ws.files.read(ctx, str(args.get("path")), _int(args.get("version")))
                text = data.decode("utf-8", errors="replace")
                if len(text) > READ_LIMIT:
                    text = text[:READ_LIMIT] + f"\n[... {len(text) - READ_LIMIT} more characters]"
                return ToolResult(True, {"path": v.path, "version": v.version, "content": text})
            if name == "write_file":
                v = await ws.files.write(ctx, str(args.get("path")), str(args.get("content", "")))
                return ToolResult(True, {"path": v.path, "version": v.version, "size": v.size})
            if name == "list_files":
                found = await ws.files.ls(ctx, str(args.get("prefix") or ""))
                return ToolResult(True, [{"path": v.path, "version": v.version, "size": v.size}
                                         for v in found[:200]])  # fmt: skip
            if name == "remember":
                scope = cast(MemoryScope, args.get("scope") or "agent")  # the hook checks it
                mid = await ws.memory.remember(ctx, str(args.get("text", "")), scope)
                return ToolResult(True, {"remembered": mid})
            if name == "recall":
                found_m = await ws.memory.recall(ctx, str(args.get("query", "")))
                items = [{"text": m.text, "scope": m.scope, "source_run": m.source_run}
                         for m in found_m]  # fmt: skip
                return ToolResult(True, items)
        except OrgosError as exc:
            return ToolResult(False, error=str(exc))
        return ToolResult(False, error=f"unknown workspace tool {name!r}")


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
