"""Claiming and waking runs on PostgreSQL.

A claim takes rows ``FOR UPDATE SKIP LOCKED``: workers claiming at once each
get different runs, none waits for another's claim. The rules are SQLite's
(``orgos.store.claims``): claimable is queued and unowned, or unfinished and
owned by a fenced worker; a claim first fences the workers whose lease ran
out, refuses a fenced claimer, and bumps each claimed run's fence token.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import psycopg

from orgos.errors import FencedOut
from orgos.store.base import RunRecord
from orgos.store.postgres.rows import RUN_COLS, TERMINAL_SQL
from orgos.store.rows import _loads, _run_from_row
from orgos.store.waiting import WaitRuns, from_stored

CLAIMABLE = (
    "status IN ('queued','running') AND"
    " (owner IS NULL OR owner NOT IN (SELECT id FROM workers WHERE fenced=0))"
)
_RETURNING = ", ".join(f"runs.{c.strip()}" for c in RUN_COLS.split(","))


def scope(workspaces: Collection[str], roots: Collection[str] | None) -> tuple[str, list[Any]]:
    """The SQL that limits a claim to ``workspaces`` (and to ``roots``' trees)."""
    if not workspaces:
        raise ValueError("a worker claims runs of at least one workspace")
    if roots is None:
        return " AND workspace = ANY(%s)", [list(workspaces)]
    return " AND workspace = ANY(%s) AND root_id = ANY(%s)", [list(workspaces), list(roots)]


async def start_claim(cur: psycopg.AsyncCursor[Any], worker_id: str, now: float) -> None:
    """Fence the workers whose lease ran out (their runs become claimable;
    maybe this one), then refuse a fenced claimer and hold its row."""
    await cur.execute("UPDATE workers SET fenced=1 WHERE lease_until < %s AND fenced=0", (now,))
    await cur.execute("SELECT fenced FROM workers WHERE id=%s FOR SHARE", (worker_id,))
    me = await cur.fetchone()
    if me is None or me[0]:
        raise FencedOut(f"worker {worker_id} has been fenced")


def _sorted(rows: list[tuple[Any, ...]]) -> list[RunRecord]:
    recs = [_run_from_row(r) for r in rows]
    recs.sort(key=lambda r: (-r.priority, r.created_at))
    return recs


async def claim(
    cur: psycopg.AsyncCursor[Any],
    worker_id: str,
    limit: int,
    now: float,
    roots: Collection[str] | None,
    workspaces: Collection[str],
) -> list[RunRecord]:
    """Inside a transaction: take up to ``limit`` claimable runs of
    ``workspaces``, highest priority first, then oldest."""
    await start_claim(cur, worker_id, now)
    only, args = scope(workspaces, roots)
    await cur.execute(
        f"WITH c AS (SELECT id FROM runs WHERE {CLAIMABLE}{only}"
        " ORDER BY priority DESC, created_at LIMIT %s FOR UPDATE SKIP LOCKED)"
        " UPDATE runs SET owner=%s, fence=fence+1, status='running', updated_at=%s"
        f" FROM c WHERE runs.id=c.id RETURNING {_RETURNING}",
        (*args, limit, worker_id, now),
    )
    return _sorted(await cur.fetchall())


async def take(
    cur: psycopg.AsyncCursor[Any],
    worker_id: str,
    now: float,
    ids: list[str],
    workspaces: Collection[str],
) -> list[RunRecord]:
    """Claim those of ``ids`` still claimable and of ``workspaces``."""
    only, args = scope(workspaces, None)
    await cur.execute(
        f"WITH c AS (SELECT id FROM runs WHERE id = ANY(%s) AND {CLAIMABLE}{only}"
        " FOR UPDATE SKIP LOCKED)"
        " UPDATE runs SET owner=%s, fence=fence+1, status='running', updated_at=%s"
        f" FROM c WHERE runs.id=c.id RETURNING {_RETURNING}",
        (ids, *args, worker_id, now),
    )
    return _sorted(await cur.fetchall())


async def wake(
    cur: psycopg.AsyncCursor[Any], workspace: str, run_id: str, ended: str | None = None
) -> bool:
    """Inside a transaction: queue the run if it waits on children that have
    ended (all, or one for ``any``) or on a deadline that passed. The run's
    row is locked first, so wakes from several workers queue it once."""
    await cur.execute(
        "SELECT status, waiting_on FROM runs WHERE id=%s AND workspace=%s FOR UPDATE",
        (run_id, workspace),
    )
    row = await cur.fetchone()
    if row is None or row[0] != "waiting":
        return False
    waiting = from_stored(_loads(row[1]))
    if type(waiting) is not WaitRuns:
        return False
    children, until, anyone = list(waiting.runs), waiting.until, waiting.any
    if until is not None and time.time() >= until:
        pass  # a deadline passed (wait_any with until)
    elif not children:
        return False
    elif anyone and ended is not None and ended in children:
        pass  # the child that just ended is one it waits for: no search
    else:
        which = "IN" if anyone else "NOT IN"
        await cur.execute(
            f"SELECT 1 FROM runs WHERE id = ANY(%s) AND status {which} {TERMINAL_SQL} LIMIT 1",
            (children,),
        )
        found = await cur.fetchone()
        if (found is None) if anyone else (found is not None):
            return False
    await cur.execute(
        "UPDATE runs SET status='queued', owner=NULL, updated_at=%s WHERE id=%s",
        (time.time(), run_id),
    )
    return True
