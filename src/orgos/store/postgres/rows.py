"""Run rows on PostgreSQL: the same columns as SQLite's, ``%s`` placeholders."""

from __future__ import annotations

from orgos.store.rows import _RUN_COLS, _TERMINAL_SQL

RUN_COLS = _RUN_COLS
#: One placeholder per column of ``RUN_COLS`` (an insert of a whole row).
RUN_MARKS = ",".join(["%s"] * (RUN_COLS.count(",") + 1))
TERMINAL_SQL = _TERMINAL_SQL
#: Taken by every transaction that inserts bus events or usage records, and
#: held to its commit: their ids (identity columns) then commit in order, so
#: a reader that passed id N never misses an N-1 committed after it.
SEQ_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.orgos.seq'))"
