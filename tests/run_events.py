"""Waiting on a run's live events: the status a run's end or park publishes
once it is committed to the store."""

from __future__ import annotations

import asyncio

from orgos.kernel.events import Event


async def next_status(q: asyncio.Queue[Event], run_id: str, timeout: float = 10.0) -> str:
    """The next status ``run_id`` published on ``q`` (subscribed before the
    run could publish it), bounded by ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            ev = await q.get()
            if ev.run_id == run_id and ev.type == "status":
                return str(ev.data["status"])
