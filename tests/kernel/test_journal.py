"""Group commit: runs share one batch and wait for its commit together; one
of them being cancelled (a stop, `orgos cancel`) must not cancel the commit
the others are waiting for."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from orgos.kernel.journal import Journal
from orgos.store.base import Append, JournalEntry, WorkerInfo
from orgos.store.sqlite import SQLiteStore


async def test_a_cancelled_waiter_does_not_cancel_the_commit_others_wait_for(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "o.db")
    await store.open()
    await store.workers.register(WorkerInfo("w-1", socket.gethostname(), os.getpid(),
                                           time.time() + 60))  # fmt: skip
    journal = Journal(store, "w-1")
    journal.start()

    async def write(run: str) -> str:
        await journal.submit(Append(JournalEntry(run, 1, "intent", "tool", {"x": 1}, "default")))
        return run

    # Both submit before the writer runs: one batch, one commit to wait for.
    stopped, going = asyncio.create_task(write("r-a")), asyncio.create_task(write("r-b"))
    await asyncio.sleep(0)  # let both submit and wait (one loop turn, no time)
    stopped.cancel()
    assert await asyncio.wait_for(going, 10) == "r-b"  # its commit was not cancelled
    with pytest.raises(asyncio.CancelledError):
        await stopped
    await journal.close()
    assert [e.run_id for e in await store.load_journal("r-a")] == ["r-a"]  # written all the same
    await store.close()
