"""The workers and agent-versions repositories on PostgreSQL."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from orgos.store.base import AgentVersion, WorkerInfo
from orgos.store.postgres.rows import TERMINAL_SQL
from orgos.store.rows import _dumps, _loads

if TYPE_CHECKING:
    from orgos.store.postgres.store import PostgresStore


class PgWorkers:
    """``WorkersRepo`` on PostgreSQL."""

    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def register(self, info: WorkerInfo) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                "INSERT INTO workers (id, host, pid, lease_until, fenced) VALUES (%s,%s,%s,%s,0)"
                " ON CONFLICT (id) DO UPDATE SET host=EXCLUDED.host, pid=EXCLUDED.pid,"
                " lease_until=EXCLUDED.lease_until, fenced=0",
                (info.id, info.host, info.pid, info.lease_until),
            )

    async def renew(self, worker_id: str, lease_until: float) -> bool:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "UPDATE workers SET lease_until=%s WHERE id=%s AND fenced=0",
                (lease_until, worker_id),
            )
            return cur.rowcount == 1

    async def remove(self, worker_id: str) -> None:
        async with self._db.transaction() as cur:
            await cur.execute(
                "UPDATE runs SET owner=NULL, status=CASE WHEN status='running' THEN 'queued'"
                f" ELSE status END WHERE owner=%s AND status NOT IN {TERMINAL_SQL}",
                (worker_id,),
            )
            await cur.execute("DELETE FROM workers WHERE id=%s", (worker_id,))

    async def all(self) -> list[WorkerInfo]:
        rows = await self._db._all("SELECT id, host, pid, lease_until, fenced FROM workers")
        return [WorkerInfo(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    async def fence(self, worker_id: str) -> None:
        """Fence it, and announce its unfinished runs as claimable."""
        async with self._db.transaction() as cur:
            await cur.execute("UPDATE workers SET fenced=1 WHERE id=%s", (worker_id,))
            await cur.execute(
                "SELECT pg_notify(%s, 'q ' || w) FROM (SELECT DISTINCT workspace AS w FROM runs"
                " WHERE owner=%s AND status IN ('queued','running')) AS held",
                (self._db.target.channel, worker_id),
            )


class PgAgents:
    """``AgentsRepo`` on PostgreSQL."""

    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def put_version(
        self, workspace: str, name: str, digest: str, spec: dict[str, Any]
    ) -> AgentVersion:
        async with self._db.transaction() as cur:
            # Two processes storing a spec of one agent at once: one at a time.
            await cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"{self._db.target.schema}/agent/{workspace}/{name}",),
            )
            await cur.execute(
                "SELECT version, digest, spec, created_at FROM agents"
                " WHERE workspace=%s AND name=%s ORDER BY version DESC LIMIT 1",
                (workspace, name),
            )
            row = await cur.fetchone()
            if row is not None and row[1] == digest:
                return AgentVersion(workspace, name, row[0], row[1], _loads(row[2]), row[3])
            version = 1 if row is None else row[0] + 1
            now = time.time()
            await cur.execute(
                "INSERT INTO agents (workspace, name, version, digest, spec, created_at)"
                " VALUES (%s,%s,%s,%s,%s,%s)",
                (workspace, name, version, digest, _dumps(spec), now),
            )
            return AgentVersion(workspace, name, version, digest, spec, now)

    async def get_version(
        self, workspace: str, name: str, version: int | None = None
    ) -> AgentVersion | None:
        sql = "SELECT version, digest, spec, created_at FROM agents WHERE workspace=%s AND name=%s"
        args: tuple[Any, ...]
        if version is None:
            sql += " ORDER BY version DESC LIMIT 1"
            args = (workspace, name)
        else:
            sql += " AND version=%s"
            args = (workspace, name, version)
        row = await self._db._one(sql, args)
        if row is None:
            return None
        return AgentVersion(workspace, name, row[0], row[1], _loads(row[2]), row[3])
