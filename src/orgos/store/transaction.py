"""One write transaction on a SQLite connection, the same way everywhere."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def transact(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn`` in one write transaction: committed if it returns, rolled back
    if it raises. The transaction begins before ``fn`` runs, which is what
    lets a writer retry a busy lock safely (nothing was done yet)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        out = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return out
