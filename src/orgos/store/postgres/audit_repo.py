"""The audit repository on PostgreSQL: records appended in the caller's
transaction (or their own), and the chain verified."""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

import psycopg

from orgos.store import audit as audit_sql
from orgos.store.audit import _COLS, GENESIS, Pending
from orgos.store.postgres.audit import append
from orgos.store.records import AuditEntry, AuditHead, AuditRow, Verdict
from orgos.store.repos import KeySource
from orgos.store.rows import _dumps

if TYPE_CHECKING:
    from orgos.store.postgres.store import PostgresStore


async def record_rows(
    cur: psycopg.AsyncCursor[Any], ts: float, entries: tuple[AuditEntry, ...], key: bytes | None
) -> None:
    rows: list[Pending] = [
        (ts, e.workspace, e.actor, e.action, e.run_id, e.step, _dumps(e.data), None, None)
        for e in entries
    ]
    await append(cur, rows, key)


async def snapshot(conn: psycopg.AsyncConnection[Any]) -> sqlite3.Connection:
    """The audit chain and the journal rows it vouches for, copied from one
    snapshot into an in-memory SQLite database, for ``orgos.store.audit``'s
    verifier: one implementation of the checks, whatever the backend."""
    lite = sqlite3.connect(":memory:")
    lite.execute(
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL, workspace TEXT,"
        " actor TEXT, action TEXT, run_id TEXT, step INTEGER, data TEXT, request_sha TEXT,"
        " result_sha TEXT, prev TEXT, hash TEXT, mac TEXT)"
    )
    lite.execute(
        "CREATE TABLE journal (run_id TEXT, seq INTEGER, phase TEXT, kind TEXT, payload TEXT,"
        " workspace TEXT, ts REAL, result TEXT, result_ts REAL)"
    )
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur = await conn.execute(f"SELECT {_COLS}, mac FROM audit ORDER BY seq")
        lite.executemany(f"INSERT INTO audit ({_COLS}, mac) VALUES ({','.join('?' * 13)})",
                         await cur.fetchall())  # fmt: skip
        cur = await conn.execute(
            "SELECT run_id, seq, phase, kind, payload, workspace, ts, result, result_ts"
            " FROM journal WHERE phase IN ('intent', 'result', 'decision') ORDER BY id"
        )
        lite.executemany("INSERT INTO journal VALUES (?,?,?,?,?,?,?,?,?)", await cur.fetchall())
        cur = await conn.execute("SELECT seq FROM audit_top")
        top = await cur.fetchone()
    lite.execute("DELETE FROM sqlite_sequence WHERE name='audit'")
    lite.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('audit', ?)",
                 (int(top[0]) if top else 0,))  # fmt: skip
    return lite


class PgAudit:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db
        #: The key that seals audit records (set by governance; None: keyless).
        self.key: KeySource | None = None

    def set_key(self, key: KeySource | None) -> None:
        self.key = key

    def key_now(self) -> bytes | None:
        return None if self.key is None else self.key()

    async def record_in(self, cur: psycopg.AsyncCursor[Any], ts: float, *e: AuditEntry) -> None:
        """Append records inside the caller's transaction."""
        await record_rows(cur, ts, e, self.key_now())

    async def record(self, *entries: AuditEntry) -> None:
        async with self._db.transaction() as cur:
            await self.record_in(cur, time.time(), *entries)

    async def verify(self, *, key: bytes | None = None, head: AuditHead | None = None) -> Verdict:
        async with self._db.connection() as conn:
            lite = await snapshot(conn)
        try:
            kept = None if head is None else (head.seq, head.hash)
            return audit_sql.verify(lite, key=key, head=kept)
        finally:
            lite.close()

    async def head(self) -> AuditHead:
        row = await self._db._one("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        return AuditHead(int(row[0]), str(row[1])) if row else AuditHead(0, GENESIS)

    async def rows(self, after: int = 0) -> list[AuditRow]:
        rows = await self._db._all(
            f"SELECT {_COLS} FROM audit WHERE seq > %s ORDER BY seq", (after,)
        )
        return [AuditRow(*r) for r in rows]
