"""Kill switches, secrets, people and tokens, and model usage on PostgreSQL.
Each change commits with its audit record."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from orgos.errors import NotFound
from orgos.ids import new_id
from orgos.people import check_person_name
from orgos.store.records import AuditEntry, DayUsage, LlmUsage, Spend, Token

if TYPE_CHECKING:
    from orgos.store.postgres.store import Cursor, PostgresStore

_TOKEN_COLS = "id, workspace, person, created_at, expires_at, revoked_at"


def _token(r: tuple[Any, ...]) -> Token:
    return Token(r[0], r[1], r[2], r[3], r[4], r[5])


class PgGovernance:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def switches(self, workspace: str) -> dict[str, str]:
        rows = await self._db._all(
            "SELECT scope, reason FROM switches WHERE workspace=%s", (workspace,)
        )
        return {r[0]: r[1] or "" for r in rows}

    async def set_switch(
        self, workspace: str, scope: str, paused: bool, reason: str, actor: str
    ) -> bool:
        async with self._db.transaction() as cur:
            now = time.time()
            if paused:
                await cur.execute(
                    "INSERT INTO switches (workspace, scope, reason, actor, ts)"
                    " VALUES (%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                    (workspace, scope, reason, actor, now),
                )
            else:
                await cur.execute(
                    "DELETE FROM switches WHERE workspace=%s AND scope=%s", (workspace, scope)
                )
            if not cur.rowcount:
                return False
            action = "switch.pause" if paused else "switch.resume"
            data = {"scope": scope, "reason": reason}
            await self._db.audit.record_in(cur, now, AuditEntry(workspace, actor, action,
                                                                data=data))  # fmt: skip
            return True

    async def replace_switch(
        self, workspace: str, scope: str, old: str, new: str | None, actor: str
    ) -> bool:
        async with self._db.transaction() as cur:
            now = time.time()
            if new is None:
                await cur.execute(
                    "DELETE FROM switches WHERE workspace=%s AND scope=%s AND reason=%s",
                    (workspace, scope, old),
                )
            else:
                await cur.execute(
                    "UPDATE switches SET reason=%s, ts=%s WHERE workspace=%s AND scope=%s"
                    " AND reason=%s",
                    (new, now, workspace, scope, old),
                )
            if cur.rowcount != 1:
                return False
            action = "switch.resume" if new is None else "switch.pause"
            data = {"scope": scope, "reason": new}
            await self._db.audit.record_in(cur, now, AuditEntry(workspace, actor, action,
                                                                data=data))  # fmt: skip
            return True

    async def put_secret(self, workspace: str, name: str, ciphertext: bytes, actor: str) -> None:
        async with self._db.transaction() as cur:
            now = time.time()
            await cur.execute(
                "INSERT INTO secrets (workspace, name, ciphertext, updated_at)"
                " VALUES (%s,%s,%s,%s) ON CONFLICT (workspace, name) DO UPDATE SET"
                " ciphertext=EXCLUDED.ciphertext, updated_at=EXCLUDED.updated_at",
                (workspace, name, ciphertext, now),
            )
            await self._db.audit.record_in(cur, now, AuditEntry(workspace, actor, "secret.set",
                                                                data={"name": name}))  # fmt: skip

    async def secret(self, workspace: str, name: str) -> bytes | None:
        row = await self._db._one(
            "SELECT ciphertext FROM secrets WHERE workspace=%s AND name=%s", (workspace, name)
        )
        return None if row is None else bytes(row[0])

    async def secret_names(self, workspace: str) -> list[str]:
        rows = await self._db._all(
            "SELECT name FROM secrets WHERE workspace=%s ORDER BY name", (workspace,)
        )
        return [r[0] for r in rows]


async def _revoke(cur: Cursor, workspace: str, now: float, column: str, value: str) -> int:
    await cur.execute(
        f"UPDATE tokens SET revoked_at=%s WHERE workspace=%s AND {column}=%s"
        " AND revoked_at IS NULL",
        (now, workspace, value),
    )
    return cur.rowcount


class PgPeople:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def roles(self, workspace: str) -> dict[str, str]:
        rows = await self._db._all(
            "SELECT name, role FROM people WHERE workspace=%s ORDER BY name", (workspace,)
        )
        return {r[0]: r[1] for r in rows}

    async def set_role(self, workspace: str, name: str, role: str | None, actor: str) -> None:
        check_person_name(name)
        async with self._db.transaction() as cur:
            now = time.time()
            data: dict[str, Any] = {"person": name, "role": role}
            if role is not None:
                await cur.execute(
                    "INSERT INTO people (workspace, name, role) VALUES (%s,%s,%s)"
                    " ON CONFLICT (workspace, name) DO UPDATE SET role=EXCLUDED.role",
                    (workspace, name, role),
                )
            else:
                await cur.execute(
                    "DELETE FROM people WHERE workspace=%s AND name=%s", (workspace, name)
                )
                data["tokens_revoked"] = await _revoke(cur, workspace, now, "person", name)
            await self._db.audit.record_in(cur, now, AuditEntry(workspace, actor, "person.set",
                                                                data=data))  # fmt: skip

    async def add_token(
        self,
        token_hash: str,
        person: str,
        workspace: str,
        actor: str,
        *,
        expires_at: float | None = None,
    ) -> Token:
        async with self._db.transaction() as cur:
            await cur.execute(
                "SELECT 1 FROM people WHERE workspace=%s AND name=%s", (workspace, person)
            )
            if await cur.fetchone() is None:
                raise NotFound(f"{person} has no role in workspace {workspace!r}")
            t = Token(new_id("tk-"), workspace, person, time.time(), expires_at)
            await cur.execute(
                f"INSERT INTO tokens (hash, {_TOKEN_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (token_hash, t.id, t.workspace, t.person, t.created_at, t.expires_at,
                 t.revoked_at),
            )  # fmt: skip
            data = {"person": person, "token": t.id, "expires_at": expires_at}
            await self._db.audit.record_in(cur, t.created_at, AuditEntry(
                workspace, actor, "token.created", data=data))  # fmt: skip
            return t

    async def token(self, token_hash: str) -> Token | None:
        row = await self._db._one(f"SELECT {_TOKEN_COLS} FROM tokens WHERE hash=%s", (token_hash,))
        return None if row is None else _token(row)

    async def tokens(self, workspace: str) -> list[Token]:
        rows = await self._db._all(
            f"SELECT {_TOKEN_COLS} FROM tokens WHERE workspace=%s ORDER BY created_at, id",
            (workspace,),
        )
        return [_token(r) for r in rows]

    async def revoke_token(self, workspace: str, token_id: str, actor: str) -> bool:
        async with self._db.transaction() as cur:
            now = time.time()
            if not await _revoke(cur, workspace, now, "id", token_id):
                return False
            await self._db.audit.record_in(cur, now, AuditEntry(
                workspace, actor, "token.revoked", data={"token": token_id}))  # fmt: skip
            return True


USAGE_INSERT = (
    "INSERT INTO llm_usage (workspace, run_id, step, agent, model_key, model, input_tokens,"
    " output_tokens, cost, worker, ts) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
)


class PgUsage:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def llm_usage(
        self,
        workspace: str,
        *,
        since: float = 0.0,
        run_id: str | None = None,
        root_id: str | None = None,
    ) -> list[LlmUsage]:
        sql = (
            "SELECT u.run_id, r.target, u.model_key, u.model, u.input_tokens, u.output_tokens"
            " FROM llm_usage u JOIN runs r ON r.id = u.run_id WHERE u.workspace=%s AND u.ts>=%s"
        )
        args: list[Any] = [workspace, since]
        if run_id is not None:
            sql += " AND u.run_id=%s"
            args.append(run_id)
        if root_id is not None:
            sql += " AND r.root_id=%s"
            args.append(root_id)
        rows = await self._db._all(sql + " ORDER BY u.seq", args)
        return [LlmUsage(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]

    async def day_usage(self, workspace: str, since: float) -> DayUsage:
        # One snapshot: the calls and the highest seq agree (REPEATABLE READ).
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur = await conn.execute(
                "SELECT u.run_id, r.target, u.model_key, u.model, u.input_tokens,"
                " u.output_tokens FROM llm_usage u JOIN runs r ON r.id = u.run_id"
                " WHERE u.workspace=%s AND u.ts>=%s ORDER BY u.seq",
                (workspace, since),
            )
            calls = [LlmUsage(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]))
                     for r in await cur.fetchall()]  # fmt: skip
            cur = await conn.execute("SELECT COALESCE(MAX(seq), 0) FROM llm_usage")
            row = await cur.fetchone()
        return DayUsage(calls, int(row[0]) if row else 0)

    async def spend_after(self, workspace: str, after: int) -> list[Spend]:
        rows = await self._db._all(
            "SELECT seq, ts, agent, input_tokens + output_tokens, cost, worker FROM llm_usage"
            " WHERE seq > %s AND workspace = %s ORDER BY seq",
            (after, workspace),
        )
        return [Spend(r[0], r[1], r[2], int(r[3]), float(r[4]), r[5]) for r in rows]
