"""One schema description, two dialects (``orgos.store.schema``): both
backends end with the same tables, columns and indexes, and both refuse a
schema written by a newer orgos."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from orgos.errors import StoreError
from orgos.store.postgres import PostgresStore
from orgos.store.postgres.connect import parse
from orgos.store.schema import MIGRATIONS, PG_MIGRATIONS, SCHEMA, VERSION
from orgos.store.sqlite import SQLiteStore

#: What one engine has and the other does in another way: the journal's
#: order (SQLite's rowid), full-text search (FTS5 tables against a
#: ``tsvector`` column), the audit chain's top (SQLite's sqlite_sequence)
#: and where the version is kept (SQLite's user_version).
ONLY_PG = {"journal.id", "memories.tsv", "audit_top.seq", "orgos_schema.version"}
ONLY_PG_INDEXES = {"memories_tsv"}
_FAMILY = {"integer": "int", "bigint": "int", "text": "text", "real": "real",
           "double precision": "real", "blob": "blob", "bytea": "blob"}  # fmt: skip

Columns = dict[str, tuple[str, bool, bool]]  # table.column: (type, not null, in primary key)


def sqlite_columns(db: sqlite3.Connection) -> tuple[Columns, set[str]]:
    cols: Columns = {}
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for t in tables:
        if t.startswith(("memories_fts", "sqlite_")):
            continue
        for _, name, typ, notnull, _, pk in db.execute(f"PRAGMA table_info({t})"):
            cols[f"{t}.{name}"] = (_FAMILY[typ.lower()], bool(notnull) or bool(pk), bool(pk))
    indexes = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}  # fmt: skip
    return cols, indexes


def pg_columns(
    conn: psycopg.Connection[tuple[object, ...]], schema: str
) -> tuple[Columns, set[str]]:
    pk = {f"{t}.{c}" for t, c in conn.execute(
        "SELECT k.table_name, k.column_name FROM information_schema.key_column_usage k"
        " JOIN information_schema.table_constraints c USING (constraint_schema, constraint_name)"
        " WHERE c.constraint_type='PRIMARY KEY' AND k.table_schema=%s", (schema,))}  # fmt: skip
    cols: Columns = {}
    for t, c, typ, nullable in conn.execute(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema=%s",
        (schema,),
    ):
        key = f"{t}.{c}"
        cols[key] = (_FAMILY.get(str(typ), str(typ)), nullable == "NO", key in pk)
    indexes = {str(r[0]) for r in conn.execute(
        "SELECT i.indexname FROM pg_indexes i WHERE i.schemaname=%s AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)", (schema,))}  # fmt: skip
    return cols, indexes


async def test_both_backends_have_the_same_tables_columns_and_indexes(
    tmp_path: Path, pg_store_url: str
) -> None:
    lite = SQLiteStore(tmp_path / "s.db")
    await lite.open()
    await lite.close()
    pg = PostgresStore(pg_store_url)
    await pg.open()
    await pg.close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        s_cols, s_idx = sqlite_columns(db)
    t = parse(pg_store_url)
    with psycopg.connect(t.conninfo, autocommit=True) as conn:
        p_cols, p_idx = pg_columns(conn, t.schema)
    assert set(p_cols) - set(s_cols) == ONLY_PG
    assert set(s_cols) - set(p_cols) == set()
    differ = {k: (s_cols[k], p_cols[k]) for k in s_cols if s_cols[k] != p_cols[k]}
    assert differ == {}
    assert p_idx - s_idx == ONLY_PG_INDEXES and s_idx - p_idx == set()


def test_every_migration_renders_for_both_dialects() -> None:
    assert len(MIGRATIONS) == len(PG_MIGRATIONS) == len(SCHEMA) == VERSION
    assert all(m for m in MIGRATIONS) and all(m for m in PG_MIGRATIONS[:3])
    assert not any("AUTOINCREMENT" in s or "BLOB" in s for m in PG_MIGRATIONS for s in m)


async def test_sqlite_refuses_a_schema_from_a_newer_orgos(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = SQLiteStore(db)
    await store.open()
    await store.close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version={VERSION + 1}")
    with pytest.raises(StoreError, match="newer orgos") as err:
        await SQLiteStore(db).open()
    assert f"schema version {VERSION + 1}" in str(err.value) and str(db) in str(err.value)
