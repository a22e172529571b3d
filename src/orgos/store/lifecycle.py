"""Run lifecycle events (``run.created``, ``run.succeeded`` ...) on the bus,
written in the same transaction as the change they report.

The store writes them itself rather than by SQL triggers: a trigger on
``runs`` made every run insert 4-5x dearer (SQLite runs the trigger program
per row), and the kernel inserts and ends thousands of runs a second."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import pydantic_core

from orgos.store.base import RunRecord

_INSERT = (
    "INSERT INTO bus_events (workspace, topic, data, source, run_id, ts)"
    " VALUES (?, 'run.created', ?, 'system', ?, ?)"
)

#: ?1 the new (terminal) status, ?2 the error, ?3 the time, ?4 the run id,
#: ?5 whether the run is tainted now: the end of a tainted run (its error
#: may quote what it read) taints the run that receives the event.
_ENDED = (
    "INSERT INTO bus_events (workspace, topic, data, source, run_id, ts, tainted)"
    " SELECT workspace, 'run.' || ?1, json_object('run_id', id, 'kind', kind,"
    " 'target', target, 'parent_id', parent_id, 'root_id', root_id, 'error', ?2),"
    " 'system', id, ?3, MAX(tainted, ?5) FROM runs WHERE id=?4"
)


def created_row(r: RunRecord, now: float) -> tuple[Any, ...]:
    data = {"run_id": r.id, "kind": r.kind, "target": r.target, "parent_id": r.parent_id,
            "root_id": r.root_id or r.id}  # fmt: skip
    return (r.workspace, pydantic_core.to_json(data).decode(), r.id, r.created_at or now)


def record_created(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """``run.created`` for runs inserted in this transaction (rows of ``created_row``)."""
    conn.executemany(_INSERT, rows)


def record_ending(
    conn: sqlite3.Connection, ends: Iterable[tuple[str, str | None, float, str, int]]
) -> None:
    """Before runs are set to a terminal status: ``run.<status>`` for each
    ``(status, error, now, run_id, tainted)`` whose status is not that one already."""
    conn.executemany(_ENDED + " AND status != ?1", ends)


def record_ended(conn: sqlite3.Connection, status: str, error: str | None, now: float,
                 run_id: str) -> None:  # fmt: skip
    """After a run was set to a terminal status in this transaction."""
    conn.execute(_ENDED, (status, error, now, run_id, 0))
