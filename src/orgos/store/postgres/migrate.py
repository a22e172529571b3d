"""Bringing a PostgreSQL store's schema up to date (``orgos.store.schema``).

All of it happens in one transaction under an advisory lock named after the
schema, so processes opening a new store at once migrate it once, and a
migration that fails leaves nothing behind. A schema whose version is higher
than this orgos knows is refused with a message, never touched.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from orgos.errors import StoreError
from orgos.store import schema
from orgos.store.postgres.connect import Target
from orgos.store.schema import PG_MIGRATIONS, VERSION


def too_new(target: Target, version: int) -> StoreError:
    where = f"the PostgreSQL store at {target.shown} (schema {target.schema})"
    return StoreError(schema.too_new(where, version))


async def current_version(conn: psycopg.AsyncConnection[Any], schema: str) -> int | None:
    """The store's schema version; None when it has no orgos schema yet."""
    cur = await conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema=%s"
        " AND table_name='orgos_schema'",
        (schema,),
    )
    if await cur.fetchone() is None:
        return None
    cur = await conn.execute(
        sql.SQL("SELECT version FROM {}.orgos_schema").format(sql.Identifier(schema))
    )
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def migrate(conn: psycopg.AsyncConnection[Any], target: Target) -> int:
    """Bring the schema to ``VERSION``; returns the version it found."""
    found = await current_version(conn, target.schema)
    if found is not None and found > VERSION:
        raise too_new(target, found)
    if found == VERSION:
        return found
    ident = sql.Identifier(target.schema)
    async with conn.transaction():
        lock = f"orgos:{target.schema}"
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(ident))
        await conn.execute("CREATE TABLE IF NOT EXISTS orgos_schema (version BIGINT NOT NULL)")
        cur = await conn.execute("SELECT version FROM orgos_schema")
        row = await cur.fetchone()
        now = 0 if row is None else int(row[0])
        if now > VERSION:
            raise too_new(target, now)
        # One round trip: the statements as one script (no parameters).
        script = ";\n".join(s for stmts in PG_MIGRATIONS[now:] for s in stmts)
        if script:
            await conn.execute(script)
        if row is None:
            await conn.execute("INSERT INTO orgos_schema (version) VALUES (%s)", (VERSION,))
        else:
            await conn.execute("UPDATE orgos_schema SET version=%s", (VERSION,))
    return now
