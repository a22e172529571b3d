"""Versions, authors, lineage, replay of writes, blobs out of the journal, quotas."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from ws_helpers import run_code, runtime, submit_parked

from orgos.config.access import FileAccess
from orgos.config.org import OrgSpec, TeamSpec
from orgos.errors import NotFound
from orgos.fs.service import FileLimits, QuotaExceeded
from orgos.kernel.context import RunContext
from orgos.shared import workspace_of


async def test_versions_and_lineage(tmp_path: Path) -> None:
    async def report(ctx: RunContext) -> str:
        files = workspace_of(ctx).files
        _, data = await files.read(ctx, "shared/input.txt")
        _, notes = await files.read(ctx, "teams/sales/notes.txt")
        v1 = await files.write(ctx, "teams/sales/report.md", b"draft: " + data)
        v2 = await files.write(ctx, "teams/sales/report.md", b"final: " + data + notes)
        return f"{v1.version},{v2.version}"

    rt, _ = runtime(tmp_path, {"seller": report})
    async with rt:
        await rt.files.put_as("ada", "shared/input.txt", b"numbers")
        await rt.files.put_as("bea", "teams/sales/notes.txt", b" and notes")
        assert await run_code(rt, "seller") == "1,2"
        await rt.files.put_as("ada", "shared/input.txt", b"new numbers")
        assert await run_code(rt, "seller") == "3,4"

        log = await rt.files.log_as("vic", "teams/sales/report.md")
        assert [(v.version, v.author_kind, v.author) for v in log] == [
            (1, "agent", "seller"), (2, "agent", "seller"),
            (3, "agent", "seller"), (4, "agent", "seller")]  # fmt: skip
        assert log[0].run_id == log[1].run_id != log[2].run_id
        _, data = await rt.files.read_as("vic", "teams/sales/report.md", 2)
        assert data == b"final: numbers and notes"
        _, latest = await rt.files.read_as("vic", "teams/sales/report.md")
        assert latest == b"final: new numbers and notes"

        first = await rt.files.lineage_as("vic", "teams/sales/report.md", 1)
        assert first["run_id"] == log[0].run_id
        assert first["read"] == [{"path": "shared/input.txt", "version": 1},
                                 {"path": "teams/sales/notes.txt", "version": 1}]  # fmt: skip
        later = await rt.files.lineage_as("vic", "teams/sales/report.md", 3)
        assert later["read"][0] == {"path": "shared/input.txt", "version": 2}
        inp = await rt.files.log_as("vic", "shared/input.txt")
        assert [(v.author_kind, v.author, v.run_id) for v in inp] == [
            ("person", "ada", None), ("person", "ada", None)]  # fmt: skip


async def test_a_replayed_write_makes_no_new_version(tmp_path: Path) -> None:
    """The run writes, parks for an event, and is replayed from its journal
    when the event comes: the write is not made again."""

    async def writer(ctx: RunContext) -> int:
        ws = workspace_of(ctx)
        v = await ws.files.write(ctx, "teams/sales/once.txt", b"exactly once")
        await ws.bus.wait_event(ctx, "go")
        return v.version

    rt, _ = runtime(tmp_path, {"seller": writer})
    async with rt:
        rid = await submit_parked(rt, "seller")
        await rt.bus.publish_as("ada", "go", {})
        done = await rt.kernel.wait(rid, timeout=10)
        assert done.status.value == "succeeded" and done.output == 1
        assert len(await rt.files.log_as("ada", "teams/sales/once.txt")) == 1
        # and the same key twice at the table level returns the first version
        table = rt.store.files
        wa = await table.put("default", "k.txt", None, 0, "system", "t", key="k1")
        wb = await table.put("default", "k.txt", None, 0, "system", "t", key="k1")
        a, new_a, b, new_b = wa.version, wa.new, wb.version, wb.new
        assert (new_a, new_b) == (True, False) and a == b


@pytest.mark.sqlite_file
@pytest.mark.sqlite_file
async def test_a_big_blob_never_passes_through_the_journal(tmp_path: Path) -> None:
    payload = os.urandom(12 * 2**20)  # 12 MB
    digest = hashlib.sha256(payload).hexdigest()

    async def big(ctx: RunContext) -> str:
        files = workspace_of(ctx).files
        v = await files.write(ctx, "teams/sales/big.bin", payload)
        _, back = await files.read(ctx, "teams/sales/big.bin")
        assert back == payload
        return str(v.blob)

    rt, _ = runtime(tmp_path, {"seller": big})
    async with rt:
        assert await run_code(rt, "seller") == digest
        _, data = await rt.files.read_as("vic", "teams/sales/big.bin")
        assert data == payload
    blob = tmp_path / "o.blobs" / digest[:2] / digest[2:]
    assert blob.stat().st_size == len(payload)
    conn = sqlite3.connect(tmp_path / "o.db")
    journal_bytes = conn.execute(
        "SELECT SUM(LENGTH(COALESCE(payload,'')) + LENGTH(COALESCE(result,''))) FROM journal"
    ).fetchone()[0]
    db_max = conn.execute(
        "SELECT MAX(LENGTH(COALESCE(payload,'')) + LENGTH(COALESCE(result,''))) FROM journal"
    ).fetchone()[0]
    conn.close()
    assert journal_bytes < 10_000 and db_max < 2_000
    assert (tmp_path / "o.db").stat().st_size < 2**20


async def test_quotas(tmp_path: Path) -> None:
    rt, _ = runtime(tmp_path, file_limits=FileLimits(max_file_bytes=1000, quota_bytes=3000))
    async with rt:
        with pytest.raises(QuotaExceeded, match="file size limit"):
            await rt.files.put_as("ada", "shared/a.bin", b"x" * 1001)
        for i in range(3):
            await rt.files.put_as("ada", f"shared/{i}.bin", b"x" * 900)
        with pytest.raises(QuotaExceeded, match="quota of 3000"):
            await rt.files.put_as("ada", "shared/3.bin", b"x" * 900)
        await rt.files.put_as("ada", "shared/0.bin", b"x" * 1000)  # replacing counts the delta


async def test_a_team_folder_quota(tmp_path: Path) -> None:
    files = FileAccess(read=["teams/{team}/**"], write=["teams/{team}/**"], quota_bytes=2000)
    org = OrgSpec(teams=[TeamSpec(name="sales", files=files), TeamSpec(name="support")])

    async def fill(ctx: RunContext) -> list[str]:
        f = workspace_of(ctx).files
        out = []
        for i in range(3):
            try:
                v = await f.write(ctx, f"teams/sales/{i}.bin", b"x" * 900)
                out.append(f"v{v.version}")
            except QuotaExceeded as exc:
                out.append(str(exc))
        return out

    rt, _ = runtime(tmp_path, {"seller": fill}, org=org)
    async with rt:
        out = await run_code(rt, "seller")
        await rt.files.put_as("ada", "teams/support/big.bin", b"x" * 5000)  # no quota there
    assert out[:2] == ["v1", "v1"]
    assert "team 'sales' would exceed its folder quota of 2000 bytes" in out[2]


async def test_deleting_a_file_keeps_its_history(tmp_path: Path) -> None:
    async def churn(ctx: RunContext) -> str:
        f = workspace_of(ctx).files
        await f.write(ctx, "teams/sales/tmp.txt", b"draft")
        gone = await f.delete(ctx, "teams/sales/tmp.txt")
        listed = await f.ls(ctx, "teams/sales")
        try:
            await f.read(ctx, "teams/sales/tmp.txt")
        except NotFound:
            return f"deleted as v{gone.version}, listed {len(listed)}"
        return "still readable"

    rt, _ = runtime(tmp_path, {"seller": churn})
    async with rt:
        assert await run_code(rt, "seller") == "deleted as v2, listed 0"
        log = await rt.files.log_as("ada", "teams/sales/tmp.txt")
        assert [(v.version, v.blob is None) for v in log] == [(1, False), (2, True)]
        _, old = await rt.files.read_as("ada", "teams/sales/tmp.txt", 1)
    assert old == b"draft"
