"""What only the PostgreSQL backend has: its URL and errors, schema versions,
LISTEN/NOTIFY wakes, and concurrent claims with SKIP LOCKED. (Everything a
Store does is in the conformance suite, run on PostgreSQL with
``ORGOS_TEST_STORE=postgres``.) These run whatever ORGOS_TEST_STORE says:
they need the local server (``.ci/run`` starts it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from stores import PG_URL, schema_prefix

from orgos import Agent, RunStatus, Runtime
from orgos.errors import StoreError
from orgos.store import Audit, Change, InsertRun, RunRecord, UpdateRun, WorkerInfo, open_store
from orgos.store import audit as audit_sql
from orgos.store.postgres import PostgresStore, redact
from orgos.store.postgres.connect import parse
from orgos.store.schema import VERSION
from orgos.testing.pgdb import Schemas, with_schema
from orgos.testing.scripted import ScriptedModel

WS = "acme"


@pytest.fixture
async def pg(pg_store_url: str) -> AsyncIterator[PostgresStore]:
    s = PostgresStore(pg_store_url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def run(rid: str, **kw: object) -> RunRecord:
    return RunRecord(id=rid, workspace=WS, kind="agent", target="a", target_version=1,
                     input={"task": rid}, created_at=time.time(), **kw)  # type: ignore[arg-type]  # fmt: skip


async def worker(store: PostgresStore, wid: str) -> str:
    await store.workers.register(WorkerInfo(wid, "host", 1, time.time() + 60))
    return wid


async def test_an_unreachable_server_is_named_without_its_password() -> None:
    store = open_store("postgresql://orgos:s3cret-pw@127.0.0.1:1/prod?schema=acme")
    with pytest.raises(StoreError) as err:
        await store.open()
    msg = str(err.value)
    assert "postgresql://orgos:***@127.0.0.1:1/prod" in msg
    assert "s3cret-pw" not in msg
    assert "cannot connect" in msg


def test_urls_are_shown_without_passwords_and_name_their_schema() -> None:
    assert redact("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    t = parse("postgresql://u:pw@h/db?schema=team_a&sslmode=disable")
    assert (t.schema, t.channel) == ("team_a", "orgos_team_a")
    assert "schema" not in t.conninfo and "sslmode=disable" in t.conninfo
    assert parse("postgres://h/db").schema == "public"


async def test_a_schema_from_a_newer_orgos_is_refused_and_left_alone(pg_store_url: str) -> None:
    first = PostgresStore(pg_store_url)
    await first.open()
    await first.close()
    t = parse(pg_store_url)
    with psycopg.connect(t.conninfo, autocommit=True) as conn:
        conn.execute(f"UPDATE {t.schema}.orgos_schema SET version=%s", (VERSION + 1,))
    again = PostgresStore(pg_store_url)
    with pytest.raises(StoreError, match="newer orgos") as err:
        await again.open()
    assert f"version {VERSION + 1}" in str(err.value) and "upgrade orgos" in str(err.value)
    with psycopg.connect(t.conninfo, autocommit=True) as conn:
        row = conn.execute(f"SELECT version FROM {t.schema}.orgos_schema").fetchone()
    assert row == (VERSION + 1,)


async def test_stores_opening_a_new_schema_at_once_migrate_it_once(pg_store_url: str) -> None:
    stores = [PostgresStore(pg_store_url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    t = parse(pg_store_url)
    with psycopg.connect(t.conninfo, autocommit=True) as conn:
        rows = conn.execute(f"SELECT version FROM {t.schema}.orgos_schema").fetchall()
    assert rows == [(VERSION,)]
    await asyncio.gather(*(s.close() for s in stores))


def iter_queue(q: asyncio.Queue[Change]) -> list[Change]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


async def _next(changes: asyncio.Queue[Change], kind: str) -> Change:
    async with asyncio.timeout(10):
        while True:
            c = await changes.get()
            if c.kind == kind:
                return c


async def test_another_stores_changes_are_announced(pg: PostgresStore, pg_store_url: str) -> None:
    """A run made claimable or ended through one store (another worker) is
    announced to listeners of another, once committed."""
    changes: asyncio.Queue[Change] = asyncio.Queue()
    stop = pg.listen(changes.put_nowait)
    other = PostgresStore(pg_store_url)
    await other.open()
    try:
        w = await worker(other, "w2")
        await other.write_batch(w, [InsertRun(run("r1"))])
        assert await _next(changes, "runnable") == Change("runnable", WS)
        [claimed] = await other.claim_runs(w, 1, time.time(), workspaces=[WS])
        await other.write_batch(w, [UpdateRun(claimed.id, RunStatus.SUCCEEDED, output=1)])
        assert await _next(changes, "ended") == Change("ended", WS, "r1")
        # A listener that stopped is told nothing; one still listening is the
        # barrier (listeners are called in turn, for each announcement).
        stop()
        still: asyncio.Queue[Change] = asyncio.Queue()
        pg.listen(still.put_nowait)
        await other.write_batch(w, [InsertRun(run("r2"))])
        [claimed] = await other.claim_runs(w, 1, time.time(), workspaces=[WS])
        await other.write_batch(w, [UpdateRun(claimed.id, RunStatus.FAILED, error="x")])
        assert await _next(still, "ended") == Change("ended", WS, "r2")
        assert all(c.run_id != "r2" for c in iter_queue(changes))
    finally:
        await other.close()


async def test_concurrent_claims_skip_each_others_runs(pg_store_url: str) -> None:
    """Four workers claim at once from one queue: each run is taken once,
    and no claimer waits for another's locked rows (SKIP LOCKED)."""
    stores = [PostgresStore(pg_store_url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        ws = [await worker(s, f"w{i}") for i, s in enumerate(stores)]
        await stores[0].write_batch(ws[0], [InsertRun(run(f"r{i:03}")) for i in range(200)])

        async def drain(s: PostgresStore, w: str) -> list[str]:
            got: list[str] = []
            while batch := await s.claim_runs(w, 7, time.time(), workspaces=[WS]):
                got.extend(r.id for r in batch)
            return got

        taken = await asyncio.gather(*(drain(s, w) for s, w in zip(stores, ws, strict=True)))
        every = [rid for t in taken for rid in t]
        assert sorted(every) == [f"r{i:03}" for i in range(200)]
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_a_worker_that_never_polls_takes_and_reports_runs_at_once(
    pg_store_url: str,
) -> None:
    """A worker whose poll interval is an hour: a run queued by another
    process is claimed because the store announced it, and a waiter on that
    run learns its end from the announcement too."""
    model = ScriptedModel(lambda r: ScriptedModel.final("done"))
    agent = Agent(name="helper")
    worker_rt = Runtime(store=pg_store_url, agents=[agent], models=model, poll_interval=3600)
    submitter = Runtime(store=pg_store_url, agents=[agent], models=model, max_active=0,
                        recover=False, poll_interval=3600)  # fmt: skip
    async with worker_rt, submitter:
        rec = await submitter.submit("helper", "hello")
        assert rec.status is RunStatus.QUEUED
        done = await submitter.wait(rec.id, timeout=20)
        assert done.status is RunStatus.SUCCEEDED and done.output == "done"
    assert len(model.requests) == 1


async def test_concurrent_batches_extend_one_audit_chain(pg_store_url: str) -> None:
    """Workers writing audit records at once extend one unbroken chain, and
    ``audit_top`` keeps the highest seq (a deletion at the tail shows)."""
    stores = [PostgresStore(pg_store_url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        ws = [await worker(s, f"w{i}") for i, s in enumerate(stores)]

        async def write(s: PostgresStore, w: str) -> None:
            for n in range(10):
                await s.write_batch(w, [Audit(WS, w, "test.write", data={"n": n}),
                                        Audit(WS, w, "test.again", data={"n": n})])  # fmt: skip

        await asyncio.gather(*(write(s, w) for s, w in zip(stores, ws, strict=True)))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    t = parse(pg_store_url)
    with psycopg.connect(t.conninfo, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {t.schema}")
        rows = conn.execute(f"SELECT {audit_sql._COLS} FROM audit ORDER BY seq").fetchall()
        top = conn.execute("SELECT seq FROM audit_top").fetchone()
    prev = audit_sql.GENESIS
    for i, r in enumerate(rows, start=1):
        row = audit_sql.AuditRow(*r)
        assert (row.seq, row.prev) == (i, prev)
        assert row.hash == audit_sql.chain_hash(row.prev, row.seq, audit_sql.canonical(
            row.ts, row.workspace, row.actor, row.action, row.run_id, row.step, row.data,
            row.request_sha, row.result_sha))  # fmt: skip
        prev = row.hash
    assert len(rows) == 60 and top == (60,)


async def test_a_tests_stores_are_named_by_its_folder_and_dropped_together(
    tmp_path: Path, pg_schemas: Schemas
) -> None:
    """What ``ORGOS_TEST_STORE=postgres`` gives a test: one schema per store
    name, the same for every process of the test, all dropped by prefix."""
    prefix = schema_prefix(tmp_path)
    urls = [with_schema(PG_URL, f"{prefix}_{n}") for n in ("o", "other")]
    for url in urls:
        s = PostgresStore(url)
        await s.open()
        await s.close()
    with psycopg.connect(parse(PG_URL).conninfo, autocommit=True) as conn:
        names = "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY 1"
        assert [r[0] for r in conn.execute(names, (prefix,))] == [f"{prefix}_o", f"{prefix}_other"]
        pg_schemas.drop_all(prefix)
        assert conn.execute(names, (prefix,)).fetchall() == []
    assert schema_prefix(tmp_path) == prefix != schema_prefix(tmp_path / "x")
