"""Only ``orgos.store`` writes SQL or knows a backend (ARCHITECTURE.md,
invariant 5): services call the store's repositories. A module outside
store/ that queries a table, imports the SQLite backend or sqlite3, or calls
a store's private helpers fails here."""

from __future__ import annotations

import re
from pathlib import Path

import orgos

SRC = Path(orgos.__file__).parent
STORE = SRC / "store"
#: Words of SQL that start a statement, as written in a string.
SQL = re.compile(r"""["'(]\s*(SELECT|INSERT|UPDATE|DELETE\s+FROM|CREATE\s+TABLE)\b""")
BACKEND = re.compile(
    r"\bSQLiteStore\b|^\s*(import sqlite3|from sqlite3)|\bstore\._\w+\(|\bfrom orgos\.store\.sqlite",
    re.M,
)


def _outside_store() -> list[Path]:
    files = [p for p in SRC.rglob("*.py") if STORE not in p.parents]
    assert len(files) > 50  # the walk found the package
    return files


def _hits(pattern: re.Pattern[str]) -> list[str]:
    out = []
    for path in _outside_store():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                out.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    return out


def test_no_sql_outside_the_store() -> None:
    assert _hits(SQL) == []


def test_no_backend_outside_the_store() -> None:
    assert _hits(BACKEND) == []


def test_the_patterns_find_what_they_look_for() -> None:
    """The checks above cannot pass by matching nothing."""
    assert SQL.search('conn.execute("SELECT id FROM runs")')
    assert SQL.search("sql = 'UPDATE runs SET x=1'")
    assert not SQL.search("# select the runs that are queued")
    assert BACKEND.search("from orgos.store.sqlite import SQLiteStore")
    assert BACKEND.search("    rows = self.store._read()")
    assert BACKEND.search("import sqlite3")
