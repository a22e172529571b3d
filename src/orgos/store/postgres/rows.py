"""Run rows on PostgreSQL: the same columns as SQLite's, ``%s`` placeholders."""

from __future__ import annotations

from orgos.store.rows import _RUN_COLS, _TERMINAL_SQL

RUN_COLS = _RUN_COLS
#: One placeholder per column of ``RUN_COLS`` (an insert of a whole row).
RUN_MARKS = ",".join(["%s"] * (RUN_COLS.count(",") + 1))
TERMINAL_SQL = _TERMINAL_SQL
