"""The PostgreSQL backend: many workers on many hosts, one database.

psycopg 3, async, with a connection pool. The same Store as SQLite, with the
same durability semantics: ``write_batch`` returns once its transaction is
committed, so a run sees a result only when it is in the store; the journal
shares one batch (one transaction, one WAL flush) between all the runs that
wrote meanwhile (group commit).

Durability: ``power-safe`` commits with ``synchronous_commit=on`` (the WAL
is flushed to disk before the commit returns); ``kill-safe`` with
``synchronous_commit=off``: a commit survives the orgos process being
killed (the server has it), but a crash of the server itself may lose the
last fraction of a second, as SQLite's ``synchronous=NORMAL`` may lose the
last commits to a power cut.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from orgos.store import fencing
from orgos.store.base import (
    Durability,
    JournalEntry,
    Listener,
    Op,
    RunFilter,
    RunRecord,
)
from orgos.store.blobs import BlobStore
from orgos.store.postgres import claims
from orgos.store.postgres.approvals import PgApprovals
from orgos.store.postgres.audit_repo import PgAudit
from orgos.store.postgres.batch import ENDED, Batch, apply
from orgos.store.postgres.connect import Target, blob_dir, connect, parse, unreachable
from orgos.store.postgres.files import PgFiles
from orgos.store.postgres.governance import PgGovernance, PgPeople, PgUsage
from orgos.store.postgres.listen import Announcements
from orgos.store.postgres.memory import PgMemory
from orgos.store.postgres.migrate import migrate
from orgos.store.postgres.repos import PgBus, PgChildren, PgLoads, PgScheduling
from orgos.store.postgres.retention import PgRetention
from orgos.store.postgres.rows import RUN_COLS, TERMINAL_SQL
from orgos.store.postgres.rows import SEQ_LOCK as BUS_LOCK
from orgos.store.postgres.workers import PgAgents, PgWorkers
from orgos.store.rows import _loads, _run_from_row

log = logging.getLogger("orgos.store")

Conn = psycopg.AsyncConnection[Any]
Cursor = psycopg.AsyncCursor[Any]


class PostgresStore:
    """A Store in one schema of a PostgreSQL database."""

    def __init__(
        self,
        url: str,
        durability: Durability = Durability.KILL_SAFE,
        *,
        pool_size: int = 8,
        connect_timeout: float = 10.0,
        blobs: str | Path | None = None,
    ):
        self.target: Target = parse(url)
        self.durability = Durability(durability)
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._news = Announcements(self.target)
        # The repositories (orgos.store.repos), on this store's pool.
        self.workers = PgWorkers(self)
        self.agents = PgAgents(self)
        self.scheduling = PgScheduling(self)
        self.children = PgChildren(self)
        self.loads = PgLoads(self)
        self.audit = PgAudit(self)
        self.approvals = PgApprovals(self)
        self.governance = PgGovernance(self)
        self.usage = PgUsage(self)
        self.people = PgPeople(self)
        self.files = PgFiles(self)
        self.bus = PgBus(self)
        self.memory = PgMemory(self)
        self.retention = PgRetention(self)
        #: File contents, by their sha256, in a folder of this host (``?blobs=``
        #: in the URL; by default one per database and schema in the user's
        #: data folder). Workers on several hosts need it on a shared disk.
        self.blobs = BlobStore(
            blob_dir(self.target, blobs), fsync=self.durability is Durability.POWER_SAFE
        )

    def __repr__(self) -> str:
        return f"PostgresStore({self.target.shown!r}, schema={self.target.schema!r})"

    # --- lifecycle ------------------------------------------------------------
    def _options(self) -> str:
        sync = "on" if self.durability is Durability.POWER_SAFE else "off"
        return f"-c search_path={self.target.schema} -c synchronous_commit={sync}"

    async def open(self) -> None:
        """Connect, migrate the schema (StoreError when the server cannot be
        reached or the schema is newer than this orgos), and start listening."""
        conn = await connect(self.target, timeout=self.connect_timeout)
        try:
            await migrate(conn, self.target)
        finally:
            await conn.close()
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.target.conninfo,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True, "options": self._options()},
            open=False,
            name=f"orgos-{self.target.schema}",
            timeout=self.connect_timeout,
        )
        try:
            await pool.open(wait=True, timeout=self.connect_timeout)
        except PoolTimeout as exc:
            await pool.close()
            raise unreachable(self.target, exc) from None
        self._pool = pool
        await self._news.start()

    async def close(self) -> None:
        await self._news.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def listen(self, listener: Listener) -> Callable[[], None]:
        return self._news.add(listener)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A pooled autocommit connection (``async with conn.transaction()``
        for several statements in one transaction)."""
        if self._pool is None:
            raise RuntimeError("store is not open")
        async with self._pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Cursor]:
        """A cursor inside one transaction: committed when the block ends,
        rolled back when it raises."""
        async with self.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    async def _one(self, query: str, args: tuple[Any, ...] | list[Any] = ()) -> Any:
        async with self.connection() as conn:
            cur = await conn.execute(query, args)
            return await cur.fetchone()

    async def _exec(self, query: str, args: tuple[Any, ...] | list[Any] = ()) -> int:
        """One statement in its own transaction; the rows it changed."""
        async with self.connection() as conn:
            cur = await conn.execute(query, args)
            return cur.rowcount

    async def _all(self, query: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        async with self.connection() as conn:
            cur = await conn.execute(query, args)
            return await cur.fetchall()

    # --- the batch --------------------------------------------------------------
    async def write_batch(
        self, worker_id: str, ops: list[Op], fences: Mapping[str, int] | None = None
    ) -> None:
        b = Batch(ops)
        key = self.audit.key_now() if b.audits and self.audit.key is not None else None
        mine = fencing.claimed(ops, fences)
        async with self.connection() as conn, conn.transaction():
            await apply(conn, worker_id, b, key, mine)

    # --- runs -------------------------------------------------------------------
    async def get_run(self, workspace: str, run_id: str) -> RunRecord | None:
        row = await self._one(
            f"SELECT {RUN_COLS} FROM runs WHERE id=%s AND workspace=%s", (run_id, workspace)
        )
        return None if row is None else _run_from_row(row)

    async def list_runs(self, flt: RunFilter) -> list[RunRecord]:
        where = ["workspace=%s"]
        args: list[Any] = [flt.workspace]
        if flt.statuses:
            where.append("status = ANY(%s)")
            args.append([s.value for s in flt.statuses])
        if flt.parent_id is not None:
            where.append("parent_id=%s")
            args.append(flt.parent_id)
        if flt.root_id is not None:
            where.append("root_id=%s")
            args.append(flt.root_id)
        if flt.top_level_only:
            where.append("parent_id IS NULL")
        if flt.id_prefix is not None:
            where.append("starts_with(id, %s)")
            args.append(flt.id_prefix)
        args.append(flt.limit)
        rows = await self._all(
            f"SELECT {RUN_COLS} FROM runs WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT %s",
            args,
        )
        return [_run_from_row(r) for r in rows]

    async def tree_size(self, workspace: str, root_id: str) -> int:
        row = await self._one(
            "SELECT COUNT(*) FROM runs WHERE root_id=%s AND workspace=%s", (root_id, workspace)
        )
        return int(row[0])

    async def load_journal(self, run_id: str) -> list[JournalEntry]:
        rows = await self._all(
            "SELECT run_id, seq, phase, kind, payload, workspace, ts, result, result_ts"
            " FROM journal WHERE run_id=%s ORDER BY id",
            (run_id,),
        )
        out = []
        for r in rows:
            out.append(JournalEntry(r[0], r[1], r[2], r[3], _loads(r[4]), r[5], r[6]))
            if r[7] is not None:
                out.append(JournalEntry(r[0], r[1], "result", r[3], _loads(r[7]), r[5], r[8]))
        return out

    async def request_cancel(self, workspace: str, run_id: str) -> list[str]:
        async with self.transaction() as cur:
            await cur.execute(
                "WITH RECURSIVE tree(id) AS (SELECT id FROM runs WHERE id=%s AND workspace=%s"
                " UNION SELECT runs.id FROM runs JOIN tree ON runs.parent_id=tree.id)"
                " SELECT runs.id FROM runs JOIN tree USING(id)"
                f" WHERE runs.status NOT IN {TERMINAL_SQL}",
                (run_id, workspace),
            )
            ids = [r[0] for r in await cur.fetchall()]
            now = time.time()
            for rid in ids:
                await cur.execute(
                    "UPDATE runs SET cancel_requested=1, updated_at=%s WHERE id=%s", (now, rid)
                )
                end = {"status": "cancelled", "error": "cancelled", "now": now, "id": rid,
                       "tainted": 0}  # fmt: skip
                await cur.execute(BUS_LOCK)
                await cur.execute(ENDED + " AND status IN ('queued','waiting')", end)
                await cur.execute(
                    "UPDATE runs SET status='cancelled', owner=NULL, error='cancelled'"
                    " WHERE id=%s AND status IN ('queued','waiting')",
                    (rid,),
                )
                if cur.rowcount:
                    await cur.execute(
                        "INSERT INTO journal (run_id, seq, phase, kind, payload, workspace, ts)"
                        " VALUES (%s, -1, 'status', 'cancelled', NULL, %s, %s)",
                        (rid, workspace, now),
                    )
            return ids

    async def cancel_requests(self, worker_id: str) -> list[str]:
        rows = await self._all(
            "SELECT id FROM runs WHERE owner=%s AND cancel_requested=1 AND status='running'",
            (worker_id,),
        )
        return [r[0] for r in rows]

    async def wake_if_ready(self, workspace: str, run_id: str, ended: str | None = None) -> bool:
        # Most calls come from a child ending while its parent is not parked:
        # a read says so without a transaction that locks the row.
        row = await self._one(
            "SELECT status FROM runs WHERE id=%s AND workspace=%s", (run_id, workspace)
        )
        if row is None or row[0] != "waiting":
            return False
        async with self.transaction() as cur:
            return await claims.wake(cur, workspace, run_id, ended)

    async def wake_all_ready(self, workspaces: Collection[str]) -> int:
        rows = await self._all(
            "SELECT workspace, id FROM runs WHERE status='waiting' AND workspace = ANY(%s)",
            (list(workspaces),),
        )
        n = 0
        for ws, rid in rows:
            async with self.transaction() as cur:
                n += await claims.wake(cur, ws, rid)
        return n

    async def requeue(self, workspace: str, run_id: str) -> bool:
        async with self.connection() as conn:
            cur = await conn.execute(
                "UPDATE runs SET status='queued', owner=NULL, error=NULL, waiting_on=NULL,"
                " updated_at=%s WHERE id=%s AND workspace=%s AND status IN ('waiting','failed')",
                (time.time(), run_id, workspace),
            )
            return cur.rowcount == 1

    # --- claims ----------------------------------------------------------------
    async def claim_runs(
        self,
        worker_id: str,
        limit: int,
        now: float,
        roots: Collection[str] | None = None,
        *,
        workspaces: Collection[str],
    ) -> list[RunRecord]:
        if roots is not None and not roots:
            return []
        async with self.transaction() as cur:
            return await claims.claim(cur, worker_id, limit, now, roots, workspaces)
