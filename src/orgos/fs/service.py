"""The workspace filesystem as syscalls (for runs) and as calls by people.

For a run, every operation is a syscall (``fs.read``, ``fs.write``,
``fs.list``, ``fs.log``): permission is checked by a before-hook of the
pipeline, so a refusal is journaled, seen by the model and by every
after-hook (audit). Contents never enter the journal: a write's intent holds
the blob's hash, a read's result holds the version, and the bytes come from
the blob store. A write is keyed by run and step, so a write re-executed
after a crash returns the version it made the first time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orgos.config.org import TeamSpec
from orgos.errors import NotFound, OrgosError
from orgos.fs.paths import AccessDenied, PathError, clean_path, under
from orgos.fs.people import RoleLookup, person_grant
from orgos.fs.permissions import Grant, Mode, agent_grant
from orgos.kernel.context import RunContext
from orgos.kernel.registry import AgentRegistry
from orgos.kernel.syscall import Syscall, Verdict
from orgos.result import Result
from orgos.store.base import RunRecord
from orgos.store.blobs import sha256_of
from orgos.store.records import FileVersion
from orgos.store.repos import BlobsRepo, FilesRepo

log = logging.getLogger("orgos.fs")

#: syscall kind -> what it needs on its path
FS_CALLS: dict[str, Mode] = {"fs.read": "read", "fs.write": "write", "fs.list": "read",
                             "fs.log": "read", "fs.delete": "write"}  # fmt: skip


class QuotaExceeded(OrgosError):
    """A write would take a file, a team folder or the workspace over its limit."""


_ERRORS: dict[str, type[OrgosError]] = {
    "denied": AccessDenied,
    "bad_path": PathError,
    "not_found": NotFound,
    "quota": QuotaExceeded,
}


def _value(result: Result) -> Any:
    """The syscall's value, or its failure raised as the workspace's own error."""
    if result.ok:
        return result.value
    code = "denied" if result.denied else str(result.code or "")
    raise _ERRORS.get(code, OrgosError)(str(result.error))


def _carry(value: Any, versions: list[FileVersion]) -> Result:
    """What a tainted run wrote (content, or a name it chose) taints its reader."""
    return Result.of(value, tainted=any(v.tainted for v in versions))


@dataclass(slots=True)
class FileLimits:
    max_file_bytes: int = 1 << 30
    #: Bytes all live files of the workspace may hold; None: no limit.
    quota_bytes: int | None = None


class Files:
    def __init__(
        self,
        table: FilesRepo,
        blobs: BlobsRepo,
        registry: AgentRegistry,
        teams: Mapping[str, TeamSpec],
        people: RoleLookup,
        limits: FileLimits,
        workspace: str,
    ) -> None:
        self.table = table
        self.blobs = blobs
        self.registry = registry
        self.teams = dict(teams)
        self.people = people
        self.limits = limits
        self.workspace = workspace

    # --- permissions ----------------------------------------------------------------
    async def grant_of_run(self, run: RunRecord) -> Grant:
        if run.kind != "agent":
            return Grant((), ())
        spec = await self.registry.get(run.workspace, run.target, run.target_version)
        return agent_grant(spec, self.teams)

    async def check(self, sc: Syscall) -> Verdict | None:
        """The pipeline's before-hook for ``fs.*``: confinement, then permission."""
        mode = FS_CALLS.get(sc.kind)
        if mode is None:
            return None
        raw = sc.request.get("prefix" if sc.kind == "fs.list" else "path")
        try:
            path = clean_path(raw, allow_root=sc.kind == "fs.list")
        except PathError as exc:
            return Verdict.deny(f"bad path: {exc}")
        if sc.kind == "fs.list":
            return None  # a listing shows only what the run may read
        if not (await self.grant_of_run(sc.run)).may(mode, path):
            log.warning("denied: run %s (%s) %s %r", sc.run.id, sc.run.target, mode, path)
            return Verdict.deny(f"{sc.run.target} may not {mode} {path!r}")
        return None

    def grant_of_person(self, name: str) -> Grant:
        return person_grant(name, self.people.person(name))

    # --- syscalls (runs) -----------------------------------------------------------------
    async def read(
        self, ctx: RunContext, path: str, version: int | None = None
    ) -> tuple[FileVersion, bytes]:
        """A file's content (the latest version, or ``version``)."""
        ws = ctx.run.workspace

        async def execute(sc: Syscall) -> Result:
            v = await self.table.get(ws, clean_path(path), version)
            if v is None or v.blob is None:
                which = "" if version is None else f" version {version}"
                return Result.fail(f"no file {path!r}{which}", code="not_found")
            await self.table.record_read(ws, ctx.run.id, sc.seq, v.path, v.version)
            return _carry(v.to_dict(), [v])

        result = await ctx.syscall("fs.read", {"path": path, "version": version}, execute)
        v = FileVersion.from_dict(_value(result))
        assert v.blob is not None
        return v, await self.blobs.get(v.blob)

    async def write(self, ctx: RunContext, path: str, content: bytes | str) -> FileVersion:
        """A new version of ``path``. The content goes to the blob store first;
        the journal holds its hash."""
        data = content.encode() if isinstance(content, str) else content
        digest = sha256_of(data)
        try:  # store the blob only when the write can be allowed
            ok = (await self.grant_of_run(ctx.run)).may("write", clean_path(path))
        except PathError:
            ok = False
        if ok and len(data) <= self.limits.max_file_bytes:
            await self.blobs.put(data)

        async def execute(sc: Syscall) -> Result:
            p = clean_path(path)
            problem = await self._over_quota(ctx.run.workspace, p, len(data))
            if problem:
                return Result.fail(problem, code="quota")
            v = (await self.table.put(
                ctx.run.workspace, p, digest, len(data), "agent", ctx.run.target,
                run_id=ctx.run.id, seq=sc.seq, key=f"{ctx.run.id}:{sc.seq}",
                tainted=ctx.run.tainted,
            )).version  # fmt: skip
            return Result.of(v.to_dict())

        req = {"path": path, "blob": digest, "size": len(data)}
        result = await ctx.syscall("fs.write", req, execute)
        return FileVersion.from_dict(_value(result))

    async def delete(self, ctx: RunContext, path: str) -> FileVersion:
        async def execute(sc: Syscall) -> Result:
            p = clean_path(path)
            cur = await self.table.get(ctx.run.workspace, p)
            if cur is None or cur.blob is None:
                return Result.fail(f"no file {path!r}", code="not_found")
            v = (await self.table.put(
                ctx.run.workspace, p, None, 0, "agent", ctx.run.target,
                run_id=ctx.run.id, seq=sc.seq, key=f"{ctx.run.id}:{sc.seq}",
            )).version  # fmt: skip
            return Result.of(v.to_dict())

        result = await ctx.syscall("fs.delete", {"path": path}, execute)
        return FileVersion.from_dict(_value(result))

    async def ls(self, ctx: RunContext, prefix: str = "") -> list[FileVersion]:
        """The live files under ``prefix`` that this run may read."""

        async def execute(sc: Syscall) -> Result:
            grant = await self.grant_of_run(ctx.run)
            found = await self.table.latest(ctx.run.workspace, clean_path(prefix, allow_root=True))
            found = [v for v in found if grant.may("read", v.path)]
            return _carry([v.to_dict() for v in found], found)

        result = await ctx.syscall("fs.list", {"prefix": prefix}, execute)
        return [FileVersion.from_dict(d) for d in _value(result)]

    async def log(self, ctx: RunContext, path: str) -> list[FileVersion]:
        async def execute(sc: Syscall) -> Result:
            found = await self.table.history(ctx.run.workspace, clean_path(path))
            return _carry([v.to_dict() for v in found], found)

        result = await ctx.syscall("fs.log", {"path": path}, execute)
        return [FileVersion.from_dict(d) for d in _value(result)]

    async def _over_quota(self, ws: str, path: str, size: int) -> str | None:
        lim = self.limits
        if size > lim.max_file_bytes:
            return f"{path!r}: {size} bytes is over the file size limit ({lim.max_file_bytes})"
        old = await self.table.get(ws, path)
        delta = size - (old.size if old is not None and old.blob is not None else 0)
        if lim.quota_bytes is not None and await self.table.usage(ws) + delta > lim.quota_bytes:
            return f"the workspace would exceed its quota of {lim.quota_bytes} bytes"
        parts = path.split("/")
        if len(parts) > 2 and parts[0] == "teams":
            team = self.teams.get(parts[1])
            quota = team.files.quota_bytes if team and team.files else None
            prefix = f"teams/{parts[1]}"
            if quota is not None and await self.table.usage(ws, prefix) + delta > quota:
                return f"team {parts[1]!r} would exceed its folder quota of {quota} bytes"
        return None

    # --- people ----------------------------------------------------------------------------
    def _person_may(self, person: str, mode: Mode, path: str) -> str:
        p = clean_path(path, allow_root=mode == "read")
        if p and not self.grant_of_person(person).may(mode, p):
            role = self.people.person(person).role
            raise AccessDenied(f"{person} ({role}) may not {mode} {p!r}")
        return p

    async def put_as(self, person: str, path: str, content: bytes) -> FileVersion:
        p = self._person_may(person, "write", path)
        problem = await self._over_quota(self.workspace, p, len(content))
        if problem:
            raise QuotaExceeded(problem)
        digest = await self.blobs.put(content)
        done = await self.table.put(self.workspace, p, digest, len(content), "person", person)
        return done.version

    async def read_as(
        self, person: str, path: str, version: int | None = None
    ) -> tuple[FileVersion, bytes]:
        p = self._person_may(person, "read", path)
        v = await self.table.get(self.workspace, p, version)
        if v is None or v.blob is None:
            which = "" if version is None else f" version {version}"
            raise NotFound(f"no file {p!r}{which}")
        return v, await self.blobs.get(v.blob)

    async def list_as(self, person: str, prefix: str = "") -> list[FileVersion]:
        p = clean_path(prefix, allow_root=True)
        grant = self.grant_of_person(person)
        return [v for v in await self.table.latest(self.workspace, p) if grant.may("read", v.path)]

    async def log_as(self, person: str, path: str) -> list[FileVersion]:
        p = self._person_may(person, "read", path)
        found = await self.table.history(self.workspace, p)
        if not found:
            raise NotFound(f"no file {p!r}")
        return found

    async def lineage_as(self, person: str, path: str, version: int) -> dict[str, Any]:
        p = self._person_may(person, "read", path)
        out = await self.table.lineage(self.workspace, p, version)
        if out is None:
            raise NotFound(f"no file {p!r} version {version}")
        return out.to_dict()


__all__ = ["FS_CALLS", "FileLimits", "Files", "QuotaExceeded", "under"]
