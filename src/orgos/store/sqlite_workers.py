"""The workers and agent-versions repositories on SQLite."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from orgos.store.base import AgentVersion, WorkerInfo
from orgos.store.rows import _TERMINAL_SQL, _dumps, _loads

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore


class SQLiteWorkers:
    """``WorkersRepo`` on SQLite."""

    def __init__(self, db: SQLiteStore):
        self._db = db

    async def register(self, info: WorkerInfo) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO workers (id, host, pid, lease_until, fenced)"
                " VALUES (?,?,?,?,0)",
                (info.id, info.host, info.pid, info.lease_until),
            )

        await self._db._write(apply)

    async def renew(self, worker_id: str, lease_until: float) -> bool:
        def apply(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE workers SET lease_until=? WHERE id=? AND fenced=0", (lease_until, worker_id)
            )
            return cur.rowcount == 1

        return await self._db._write(apply)

    async def remove(self, worker_id: str) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE runs SET owner=NULL, status=CASE WHEN status='running' THEN 'queued'"
                f" ELSE status END WHERE owner=? AND status NOT IN {_TERMINAL_SQL}",
                (worker_id,),
            )
            conn.execute("DELETE FROM workers WHERE id=?", (worker_id,))

        await self._db._transact(apply)

    async def all(self) -> list[WorkerInfo]:
        rows = self._db._read().execute("SELECT id, host, pid, lease_until, fenced FROM workers")
        return [WorkerInfo(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    async def fence(self, worker_id: str) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE workers SET fenced=1 WHERE id=?", (worker_id,))

        await self._db._write(apply)


class SQLiteAgents:
    """``AgentsRepo`` on SQLite."""

    def __init__(self, db: SQLiteStore):
        self._db = db

    async def put_version(
        self, workspace: str, name: str, digest: str, spec: dict[str, Any]
    ) -> AgentVersion:
        def apply(conn: sqlite3.Connection) -> AgentVersion:
            row = conn.execute(
                "SELECT version, digest, spec, created_at FROM agents"
                " WHERE workspace=? AND name=? ORDER BY version DESC LIMIT 1",
                (workspace, name),
            ).fetchone()
            if row is not None and row[1] == digest:
                return AgentVersion(workspace, name, row[0], row[1], _loads(row[2]), row[3])
            version = 1 if row is None else row[0] + 1
            now = time.time()
            conn.execute(
                "INSERT INTO agents (workspace, name, version, digest, spec, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (workspace, name, version, digest, _dumps(spec), now),
            )
            return AgentVersion(workspace, name, version, digest, spec, now)

        return await self._db._transact(apply)

    async def get_version(
        self, workspace: str, name: str, version: int | None = None
    ) -> AgentVersion | None:
        sql = "SELECT version, digest, spec, created_at FROM agents WHERE workspace=? AND name=?"
        args: Iterable[Any]
        if version is None:
            sql += " ORDER BY version DESC LIMIT 1"
            args = (workspace, name)
        else:
            sql += " AND version=?"
            args = (workspace, name, version)
        row = self._db._read().execute(sql, tuple(args)).fetchone()
        if row is None:
            return None
        return AgentVersion(workspace, name, row[0], row[1], _loads(row[2]), row[3])
