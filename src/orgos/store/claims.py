"""Claiming runs (SQLite): which runs a worker may take, and the take.

A worker sees the runs of its own workspaces only (one, unless it was
configured for several): every claim names them, so workspace B's run is
never executed by A's worker with A's models, tools and policy."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from orgos.errors import FencedOut
from orgos.store.base import RunRecord
from orgos.store.rows import _RUN_COLS, _run_from_row

#: A run another worker may take: queued and unowned, or unfinished and owned
#: by a worker that is fenced.
CLAIMABLE = (
    "status IN ('queued','running') AND"
    " (owner IS NULL OR owner NOT IN (SELECT id FROM workers WHERE fenced=0))"
)


def scope(workspaces: Collection[str], roots: Collection[str] | None) -> tuple[str, list[str]]:
    """The SQL that limits a claim to ``workspaces`` (and to ``roots``' trees)."""
    if not workspaces:
        raise ValueError("a worker claims runs of at least one workspace")
    ws = list(workspaces)
    sql = f" AND workspace IN ({','.join('?' * len(ws))})"
    if roots is None:
        return sql, ws
    return f"{sql} AND root_id IN ({','.join('?' * len(roots))})", [*ws, *roots]


def start_claim(conn: sqlite3.Connection, worker_id: str, now: float) -> None:
    """Inside a claim's transaction: refuse a fenced worker, and fence the
    workers whose lease ran out (their runs become claimable)."""
    me = conn.execute("SELECT fenced FROM workers WHERE id=?", (worker_id,)).fetchone()
    if me is None or me[0]:
        raise FencedOut(f"worker {worker_id} has been fenced")
    conn.execute("UPDATE workers SET fenced=1 WHERE lease_until < ? AND fenced=0", (now,))


def take_runs(
    conn: sqlite3.Connection,
    worker_id: str,
    now: float,
    ids: list[str],
    workspaces: Collection[str],
) -> list[RunRecord]:
    """Claim those of ``ids`` still claimable (another worker may have been
    quicker) and of ``workspaces``, bumping each one's fence token."""
    only, args = scope(workspaces, None)
    out: list[RunRecord] = []
    for rid in ids:
        cur = conn.execute(
            "UPDATE runs SET owner=?, fence=fence+1, status='running', updated_at=?"
            f" WHERE id=? AND {CLAIMABLE}{only}",
            (worker_id, now, rid, *args),
        )
        if cur.rowcount:
            row = conn.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id=?", (rid,)).fetchone()
            out.append(_run_from_row(row))
    return out


def claim(
    conn: sqlite3.Connection,
    worker_id: str,
    limit: int,
    now: float,
    roots: Collection[str] | None,
    workspaces: Collection[str],
) -> list[RunRecord]:
    """Inside a transaction: take up to ``limit`` claimable runs of
    ``workspaces``, highest priority first, then oldest."""
    start_claim(conn, worker_id, now)
    only, args = scope(workspaces, roots)
    ids = [
        r[0]
        for r in conn.execute(
            f"SELECT id FROM runs WHERE {CLAIMABLE}{only}"
            " ORDER BY priority DESC, created_at LIMIT ?",
            (*args, limit),
        )
    ]
    return take_runs(conn, worker_id, now, ids, workspaces)
