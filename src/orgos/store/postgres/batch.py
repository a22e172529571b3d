"""The group-commit batch on PostgreSQL: runs inserted and updated, journal
entries, lifecycle events and audit records, in one fenced transaction.

Lifecycle events (``run.created``, ``run.<status>``) are bus events: the
batch takes the bus lock before inserting them (``orgos.store.postgres.bus``),
so that event ids commit in order.

The worker's row is read ``FOR SHARE``: a fence (an UPDATE of that row)
waits until the batch is committed, and a batch that starts after the fence
sees it and writes nothing. So once a worker is fenced no later write of it
lands, and the runs it held are claimed only after its last batch.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from orgos.errors import FencedOut
from orgos.store import audit as audit_sql
from orgos.store import codec, fencing
from orgos.store.base import Append, InsertRun, Op, UpdateRun, Usage
from orgos.store.lifecycle import created_row
from orgos.store.postgres.governance import USAGE_INSERT
from orgos.store.postgres.rows import RUN_COLS, RUN_MARKS
from orgos.store.postgres.rows import SEQ_LOCK as BUS_LOCK
from orgos.store.sqlite_governance import usage_row

_JOURNAL_INSERT = (
    "INSERT INTO journal (run_id, seq, phase, kind, payload, workspace, ts, result, result_ts)"
    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)"
)
_CREATED = (
    "INSERT INTO bus_events (workspace, topic, data, source, run_id, ts)"
    " VALUES (%s, 'run.created', %s, 'system', %s, %s)"
)
#: ``run.<status>`` of a run set to a terminal status, with the fields its
#: readers know; a tainted run's end taints the event.
ENDED = (
    "INSERT INTO bus_events (workspace, topic, data, source, run_id, ts, tainted)"
    " SELECT workspace, 'run.' || %(status)s, json_build_object('run_id', id, 'kind', kind,"
    " 'target', target, 'parent_id', parent_id, 'root_id', root_id, 'error', %(error)s::text)"
    "::text, 'system', id, %(now)s, GREATEST(tainted, %(tainted)s) FROM runs WHERE id=%(id)s"
)
_UPDATE = (
    "UPDATE runs SET status=%s, output=%s, error=%s, waiting_on=%s, updated_at=%s,"
    " tainted=GREATEST(tainted, %s), owner=CASE WHEN %s THEN NULL ELSE owner END WHERE id=%s"
)


class Batch:
    """The rows of one batch, built outside the transaction."""

    def __init__(self, ops: list[Op], now: float | None = None):
        self.now = now = time.time() if now is None else now
        self.inserts: list[tuple[Any, ...]] = []
        self.created: list[tuple[Any, ...]] = []
        self.entries: list[tuple[Any, ...]] = []
        self.updates: list[tuple[Any, ...]] = []
        self.ending: list[dict[str, Any]] = []
        self.usages: list[tuple[Any, ...]] = []
        # A result whose intent is in this batch is stored in the intent's row.
        where: dict[tuple[str, int], int] = {}
        for op in ops:
            enc = op.encoded or codec.prepare(op)
            if type(op) is Append:
                e = op.entry
                if e.phase == "result":
                    i = where.pop((e.run_id, e.seq), -1)
                    if i >= 0:
                        self.entries[i] = (*self.entries[i][:7], enc[0], e.ts or now)
                        continue
                elif e.phase == "intent":
                    where[(e.run_id, e.seq)] = len(self.entries)
                self.entries.append((e.run_id, e.seq, e.phase, e.kind, enc[0], e.workspace,
                                     e.ts or now, None, None))  # fmt: skip
            elif type(op) is UpdateRun:
                if op.status.terminal:
                    self.ending.append({"status": op.status.value, "error": enc[2], "now": now,
                                        "id": op.run_id, "tainted": int(op.tainted)})  # fmt: skip
                self.updates.append((op.status.value, enc[0], enc[2], enc[1], now,
                                     int(op.tainted), op.release, op.run_id))  # fmt: skip
            elif type(op) is Usage:
                self.usages.append(usage_row(op, now))
            elif type(op) is InsertRun:
                r = op.run
                self.inserts.append((
                    r.id, r.workspace, r.kind, r.target, r.target_version, enc[0],
                    r.parent_id, r.root_id or r.id, r.status.value, enc[1], r.error,
                    enc[2], r.owner, r.fence, r.priority, r.created_at or now,
                    now, int(r.cancel_requested), int(r.tainted),
                ))  # fmt: skip
                self.created.append(created_row(r, now))
        self.audits = audit_sql.batch_rows(ops, self.entries, now)


#: The check with the runs the batch writes for: which of them another worker
#: claimed since (their fence moved on). Their rows are held too, so a claim
#: of one of them waits for this transaction (``orgos.store.fencing``).
_CHECK_RUNS = (
    "SELECT w.fenced, ARRAY(SELECT c.id FROM (SELECT r.id, r.fence <> f.fence AS moved"
    " FROM runs AS r JOIN unnest(%s::text[], %s::bigint[]) AS f(id, fence) ON r.id = f.id"
    " FOR SHARE OF r) AS c WHERE c.moved) FROM workers AS w WHERE w.id=%s FOR SHARE OF w"
)


async def check_worker(
    cur: psycopg.AsyncCursor[Any], worker_id: str, mine: dict[str, int] | None = None
) -> None:
    """Inside a transaction: refuse a fenced (or unknown) worker, and hold
    its row so that a fence waits for this transaction; with ``mine`` (run
    id: the fence it was claimed with), refuse a batch for runs claimed since."""
    if mine:
        await cur.execute(_CHECK_RUNS, (list(mine), list(mine.values()), worker_id))
    else:
        await cur.execute("SELECT fenced FROM workers WHERE id=%s FOR SHARE", (worker_id,))
    row = await cur.fetchone()
    if row is None or row[0]:
        raise FencedOut(f"worker {worker_id} has been fenced; its writes are refused")
    if mine and row[1]:
        raise fencing.refused(worker_id, row[1])


async def apply(
    conn: psycopg.AsyncConnection[Any],
    worker_id: str,
    b: Batch,
    key: bytes | None,
    mine: dict[str, int] | None = None,
) -> None:
    """Write the batch in one transaction (the caller's)."""
    from orgos.store.postgres import audit as pg_audit

    async with conn.cursor() as cur:
        await check_worker(cur, worker_id, mine)
        if b.inserts:
            await cur.executemany(f"INSERT INTO runs ({RUN_COLS}) VALUES ({RUN_MARKS})", b.inserts)
        if b.entries:
            await cur.executemany(_JOURNAL_INSERT, b.entries)
        if b.inserts or b.ending or b.usages:
            # Lifecycle events: their ids must commit in order (bus.BUS_LOCK),
            # so the lock is taken late, and held only to the commit.
            await cur.execute(BUS_LOCK)
            if b.inserts:
                await cur.executemany(_CREATED, b.created)
            if b.ending:
                await cur.executemany(ENDED + " AND status != %(status)s", b.ending)
            if b.usages:
                await cur.executemany(USAGE_INSERT, b.usages)
        if b.updates:
            await cur.executemany(_UPDATE, b.updates)
        if b.audits:
            await pg_audit.append(cur, await pg_audit.fill_earlier(cur, b.audits), key)
