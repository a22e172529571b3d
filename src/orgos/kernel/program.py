"""What a run executes: the kernel knows programs only by this shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from orgos.kernel.context import RunContext


class Program(Protocol):
    """What a run executes. The agents layer provides the "agent" program;
    workflows will provide theirs. The kernel knows nothing of either."""

    async def resolve_version(self, workspace: str, target: str) -> int:
        """The version a new run of ``target`` starts with (raises NotFound)."""
        ...

    async def __call__(self, ctx: RunContext) -> Any: ...
