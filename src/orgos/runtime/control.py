"""An operator's answers to a runtime's runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orgos.errors import ConfigError
from orgos.kernel.kernel import Kernel

if TYPE_CHECKING:
    from orgos.policy.governance import Governance


class Control:
    """What a person (or an operator's tool) answers to runs: approve or deny
    a call parked for approval (with governance), decide a call a crash left
    in doubt, cancel a run and its descendants, resume a waiting or failed
    run. Reached as ``Runtime.control``."""

    def __init__(self, kernel: Kernel, governance: Governance | None) -> None:
        self.kernel = kernel
        self.governance = governance

    async def approve(
        self, approval_id: str, *, by: str, note: str | None = None, arguments: Any = None
    ) -> None:
        """Approve a parked call (``arguments``: edited ones); the run goes on."""
        await self._gov().approvals.decide(
            approval_id, approve=True, by=by, note=note, arguments=arguments
        )

    async def deny(self, approval_id: str, *, by: str, note: str | None = None) -> None:
        """Deny a parked call; the run goes on and its model reads the denial."""
        await self._gov().approvals.decide(approval_id, approve=False, by=by, note=note)

    def _gov(self) -> Governance:
        if self.governance is None:
            raise ConfigError("this runtime has no governance (Runtime(governance=...))")
        return self.governance

    async def decide(
        self, run_id: str, action: str, value: Any = None, *, by: str = "local"
    ) -> None:
        """Answer for a call in doubt after a crash (retry, done, not-done),
        as ``by``: with governance, a person who may decide approvals once the
        workspace has people. Journaled and audited with who answered."""
        if self.governance is not None:
            await self.governance.approvals.may_decide(by)
        await self.kernel.recovery.decide(run_id, action, value, by=by)

    async def cancel(self, run_id: str) -> list[str]:
        """Stop a run and all its descendants, wherever they execute."""
        return await self.kernel.cancel(run_id)

    async def resume(self, run_id: str) -> bool:
        """Make a waiting or failed run runnable again."""
        return await self.kernel.resume(run_id)
