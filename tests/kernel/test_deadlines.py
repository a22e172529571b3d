"""The kernel's timeout wheel behaves like asyncio.timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from orgos.kernel.deadlines import Deadlines


async def test_expires_a_hanging_call() -> None:
    d = Deadlines(resolution=0.01)
    t = time.monotonic()
    with pytest.raises(TimeoutError):
        async with d.timeout(0.3):
            await asyncio.Event().wait()
    assert 0.3 <= time.monotonic() - t < 2.0
    d.close()


async def test_lets_a_quick_call_finish_and_an_outer_cancel_through() -> None:
    d = Deadlines(resolution=0.01)
    async with d.timeout(5):
        await asyncio.sleep(0)

    async def hang() -> None:
        async with d.timeout(5):
            await asyncio.Event().wait()

    task = asyncio.create_task(hang())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    d.close()


async def test_many_concurrent_deadlines() -> None:
    d = Deadlines(resolution=0.01)

    async def one(i: int) -> str:
        try:
            async with d.timeout(0.25):
                if i % 2:
                    await asyncio.Event().wait()
                return "done"
        except TimeoutError:
            return "timeout"

    results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(2000))), 10)
    assert results.count("done") == 1000 and results.count("timeout") == 1000
    d.close()
