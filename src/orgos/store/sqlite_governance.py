"""Kill switches, secrets, people and tokens, and model usage on SQLite.
Each change commits with its audit record."""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

from orgos.errors import NotFound
from orgos.ids import new_id
from orgos.people import check_person_name
from orgos.store import people as people_sql
from orgos.store.base import Usage
from orgos.store.records import AuditEntry, DayUsage, LlmUsage, Spend, Token

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore


class SQLiteGovernance:
    def __init__(self, db: SQLiteStore) -> None:
        self._db = db

    def _audit(self, conn: sqlite3.Connection, ts: float, e: AuditEntry) -> None:
        self._db.audit.record_in(conn, ts, e)

    async def switches(self, workspace: str) -> dict[str, str]:
        rows = self._db._read().execute(
            "SELECT scope, reason FROM switches WHERE workspace=?", (workspace,)
        )
        return {r[0]: r[1] or "" for r in rows}

    async def set_switch(
        self, workspace: str, scope: str, paused: bool, reason: str, actor: str
    ) -> bool:
        def apply(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if paused:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO switches VALUES (?,?,?,?,?)",
                    (workspace, scope, reason, actor, now),
                )
            else:
                cur = conn.execute(
                    "DELETE FROM switches WHERE workspace=? AND scope=?", (workspace, scope)
                )
            if cur.rowcount:
                action = "switch.pause" if paused else "switch.resume"
                data = {"scope": scope, "reason": reason}
                self._audit(conn, now, AuditEntry(workspace, actor, action, data=data))
            return bool(cur.rowcount)

        return await self._db._transact(apply)

    async def replace_switch(
        self, workspace: str, scope: str, old: str, new: str | None, actor: str
    ) -> bool:
        def apply(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if new is None:
                cur = conn.execute(
                    "DELETE FROM switches WHERE workspace=? AND scope=? AND reason=?",
                    (workspace, scope, old),
                )
            else:
                cur = conn.execute(
                    "UPDATE switches SET reason=?, ts=? WHERE workspace=? AND scope=? AND reason=?",
                    (new, now, workspace, scope, old),
                )
            if cur.rowcount != 1:
                return False
            action = "switch.resume" if new is None else "switch.pause"
            data = {"scope": scope, "reason": new}
            self._audit(conn, now, AuditEntry(workspace, actor, action, data=data))
            return True

        return await self._db._transact(apply)

    async def put_secret(self, workspace: str, name: str, ciphertext: bytes, actor: str) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.execute(
                "INSERT OR REPLACE INTO secrets VALUES (?,?,?,?)",
                (workspace, name, ciphertext, now),
            )
            self._audit(conn, now, AuditEntry(workspace, actor, "secret.set", data={"name": name}))

        await self._db._transact(apply)

    async def secret(self, workspace: str, name: str) -> bytes | None:
        row = (
            self._db._read()
            .execute(
                "SELECT ciphertext FROM secrets WHERE workspace=? AND name=?", (workspace, name)
            )
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    async def secret_names(self, workspace: str) -> list[str]:
        rows = self._db._read().execute(
            "SELECT name FROM secrets WHERE workspace=? ORDER BY name", (workspace,)
        )
        return [r[0] for r in rows]


class SQLitePeople:
    """People and tokens (their SQL in store/people.py, shared with the
    CLI's sign-in check, which reads a store file without opening a Store)."""

    def __init__(self, db: SQLiteStore) -> None:
        self._db = db

    def _audit(self, conn: sqlite3.Connection, ts: float, e: AuditEntry) -> None:
        self._db.audit.record_in(conn, ts, e)

    async def roles(self, workspace: str) -> dict[str, str]:
        return people_sql.read_people(self._db._read(), workspace)

    async def set_role(self, workspace: str, name: str, role: str | None, actor: str) -> None:
        check_person_name(name)

        def apply(conn: sqlite3.Connection) -> None:
            now = time.time()
            revoked = people_sql.write_person(conn, workspace, name, role, now)
            data: dict[str, Any] = {"person": name, "role": role}
            if role is None:
                data["tokens_revoked"] = revoked
            self._audit(conn, now, AuditEntry(workspace, actor, "person.set", data=data))

        await self._db._transact(apply)

    async def add_token(
        self,
        token_hash: str,
        person: str,
        workspace: str,
        actor: str,
        *,
        expires_at: float | None = None,
    ) -> Token:
        def apply(conn: sqlite3.Connection) -> Token:
            if person not in people_sql.read_people(conn, workspace):
                raise NotFound(f"{person} has no role in workspace {workspace!r}")
            token = Token(new_id("tk-"), workspace, person, time.time(), expires_at)
            people_sql.insert_token(conn, token_hash, token)
            data = {"person": person, "token": token.id, "expires_at": expires_at}
            self._audit(conn, token.created_at, AuditEntry(workspace, actor, "token.created",
                                                           data=data))  # fmt: skip
            return token

        return await self._db._transact(apply)

    async def token(self, token_hash: str) -> Token | None:
        return people_sql.read_token(self._db._read(), token_hash)

    async def tokens(self, workspace: str) -> list[Token]:
        return people_sql.read_tokens(self._db._read(), workspace)

    async def revoke_token(self, workspace: str, token_id: str, actor: str) -> bool:
        def apply(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if not people_sql.revoke(conn, workspace, now, token_id=token_id):
                return False
            self._audit(conn, now, AuditEntry(workspace, actor, "token.revoked",
                                              data={"token": token_id}))  # fmt: skip
            return True

        return await self._db._transact(apply)


_USAGE_COLS = (
    "workspace, run_id, step, agent, model_key, model, input_tokens, output_tokens, cost,"
    " worker, ts"
)


def usage_row(u: Usage, now: float) -> tuple[Any, ...]:
    """The row of a ``Usage`` op (written by the batch it came in)."""
    return (u.workspace, u.run_id, u.seq, u.agent, u.model_key, u.model, u.input_tokens,
            u.output_tokens, u.cost, u.worker, u.ts or now)  # fmt: skip


def insert_usage(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.executemany(
            f"INSERT INTO llm_usage ({_USAGE_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows
        )


class SQLiteUsage:
    def __init__(self, db: SQLiteStore) -> None:
        self._db = db

    def _calls(
        self, workspace: str, since: float, run_id: str | None, root_id: str | None
    ) -> list[LlmUsage]:
        sql = (
            "SELECT u.run_id, r.target, u.model_key, u.model, u.input_tokens, u.output_tokens"
            " FROM llm_usage u JOIN runs r ON r.id = u.run_id WHERE u.workspace = ? AND u.ts >= ?"
        )
        args: list[Any] = [workspace, since]
        if run_id is not None:
            sql += " AND u.run_id = ?"
            args.append(run_id)
        if root_id is not None:
            sql += " AND r.root_id = ?"
            args.append(root_id)
        rows = self._db._read().execute(sql + " ORDER BY u.seq", args)
        return [LlmUsage(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]

    async def llm_usage(
        self,
        workspace: str,
        *,
        since: float = 0.0,
        run_id: str | None = None,
        root_id: str | None = None,
    ) -> list[LlmUsage]:
        return self._calls(workspace, since, run_id, root_id)

    async def day_usage(self, workspace: str, since: float) -> DayUsage:
        conn = self._db._read()
        conn.execute("BEGIN")
        try:
            calls = self._calls(workspace, since, None, None)
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM llm_usage").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        return DayUsage(calls, int(seq))

    async def spend_after(self, workspace: str, after: int) -> list[Spend]:
        rows = self._db._read().execute(
            "SELECT seq, ts, agent, input_tokens + output_tokens, cost, worker FROM llm_usage"
            " WHERE seq > ? AND workspace = ? ORDER BY seq",
            (after, workspace),
        )
        return [Spend(r[0], r[1], r[2], int(r[3]), float(r[4]), r[5]) for r in rows]
