"""A SQLite store file's setup: WAL, and the schema brought up to date."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from orgos.errors import StoreError
from orgos.store.schema import MIGRATIONS, VERSION, too_new
from orgos.store.transaction import transact


def enable_wal(conn: sqlite3.Connection, wait: float = 10.0) -> None:
    """Switch a file to WAL. On a new file two processes may race to do it;
    SQLite answers the loser "database is locked" at once, without using the
    busy timeout, so the loser retries (bounded) until the winner is done."""
    deadline = time.monotonic() + wait
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def migrate_file(path: Path) -> None:
    """Bring a store file's schema up to date without opening a Store (the
    CLI's sign-in check reads the file directly); a no-op when it is."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    if current != VERSION:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        try:
            migrate(conn)
        finally:
            conn.close()


def _name(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA database_list").fetchone()[2] or "this store")


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to date. The version is read under the write
    lock, so processes opening a new database at once migrate it once.
    A schema from a newer orgos is refused (StoreError)."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > VERSION:
        raise StoreError(too_new(_name(conn), current))
    if current == VERSION:
        return

    def apply(conn: sqlite3.Connection) -> None:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        if current > VERSION:
            raise StoreError(too_new(_name(conn), current))
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version > current:
                for stmt in statements:
                    conn.execute(stmt)
        conn.execute(f"PRAGMA user_version={len(MIGRATIONS)}")

    transact(conn, apply)
