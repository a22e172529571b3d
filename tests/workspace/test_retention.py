"""Retention: old journals, events and file versions go, with the blobs no
version uses; live runs, latest versions and fresh blobs stay."""

from __future__ import annotations

import time
from pathlib import Path

from ws_helpers import run_code, runtime, submit_parked

from orgos.config.access import RetentionSpec
from orgos.kernel.context import RunContext
from orgos.retention import apply_retention
from orgos.shared import workspace_of


async def test_retention_frees_what_the_policy_lets_go(tmp_path: Path) -> None:
    async def writer(ctx: RunContext) -> str:
        files = workspace_of(ctx).files
        for i in range(4):
            await files.write(ctx, "teams/sales/doc.txt", f"version {i} " * 100)
        return "ok"

    async def waiter(ctx: RunContext) -> str:
        await workspace_of(ctx).bus.wait_event(ctx, "never")
        return "woke"

    rt, _ = runtime(tmp_path, {"seller": writer, "helper": waiter})
    async with rt:
        assert await run_code(rt, "seller") == "ok"
        parked = await submit_parked(rt, "helper")  # unfinished: must survive
        later = time.time() + 10 * 86_400
        policy = RetentionSpec(journal_days=1, event_days=1, file_versions=2)
        shared = rt.shared
        assert shared is not None
        dry = await apply_retention(shared.store, shared.blobs, policy, dry_run=True,
                                    now=later, blob_grace=0)  # fmt: skip
        assert len(await rt.files.log_as("ada", "teams/sales/doc.txt")) == 4  # nothing removed
        rep = await apply_retention(shared.store, shared.blobs, policy, now=later, blob_grace=0)
        assert dry.to_dict() | {"dry_run": False} == rep.to_dict()
        assert rep.runs == 1 and rep.journal_entries > 4 and rep.events >= 4
        assert rep.file_versions == 2 and rep.blobs == 2 and rep.blob_bytes > 0
        assert rep.freed_bytes > rep.blob_bytes
        log = await rt.files.log_as("ada", "teams/sales/doc.txt")
        assert [v.version for v in log] == [3, 4]
        _, data = await rt.files.read_as("ada", "teams/sales/doc.txt")
        assert data.startswith(b"version 3")
        assert (await rt.get_run(parked)).status.value == "waiting"
        assert await rt.history.journal(parked)  # its journal stays
        again = await apply_retention(shared.store, shared.blobs, policy, now=later,
                                      blob_grace=0)  # fmt: skip
        assert again.freed_bytes == 0
