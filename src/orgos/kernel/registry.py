"""Agent versions: every distinct spec is stored once, numbered per name.

In the kernel layer (not agents/): the workspace services (fs, memory) and
workflows look agents up by version too, and must not import the agent loop."""

from __future__ import annotations

from orgos.config.specs import AgentSpec
from orgos.errors import NotFound
from orgos.store.base import Store


class AgentRegistry:
    def __init__(self, store: Store):
        self._store = store
        self._cache: dict[tuple[str, str, int], AgentSpec] = {}
        self._latest: dict[tuple[str, str], int] = {}

    async def register(self, workspace: str, spec: AgentSpec) -> int:
        """Store the spec; a changed spec gets the next version number."""
        v = await self._store.agents.put_version(
            workspace, spec.name, spec.digest(), spec.model_dump(mode="json")
        )
        self._cache[(workspace, spec.name, v.version)] = spec
        self._latest[(workspace, spec.name)] = v.version
        return v.version

    async def latest_version(self, workspace: str, name: str) -> int:
        v = self._latest.get((workspace, name))
        if v is not None:
            return v
        rec = await self._store.agents.get_version(workspace, name)
        if rec is None:
            raise NotFound(f"no agent named {name!r} in workspace {workspace!r}")
        return rec.version

    async def get(self, workspace: str, name: str, version: int | None = None) -> AgentSpec:
        """A given version (versions never change, so they are cached)."""
        if version is None:
            version = await self.latest_version(workspace, name)
        key = (workspace, name, version)
        spec = self._cache.get(key)
        if spec is None:
            rec = await self._store.agents.get_version(workspace, name, version)
            if rec is None:
                raise NotFound(f"agent {name!r} has no version {version}")
            spec = self._cache[key] = AgentSpec.model_validate(rec.spec)
        return spec
