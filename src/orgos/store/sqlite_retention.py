"""Retention on SQLite: ended run trees' journals, old events and old file
versions, removed in one transaction (or, dry, counted and rolled back)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orgos.store import audit as audit_sql
from orgos.store.records import Prune, Pruned
from orgos.store.rows import _dumps

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore

DAY = 86_400.0
#: Run ids named per ``retention.pruned`` audit record.
PRUNED_PER_RECORD = 2000

_SIZE = "LENGTH(COALESCE(payload,'')) + LENGTH(COALESCE(result,''))"


@dataclass(slots=True)
class _Counts:
    runs: int = 0
    journal_entries: int = 0
    journal_bytes: int = 0
    events: int = 0
    event_bytes: int = 0
    file_versions: int = 0


class SQLiteRetention:
    def __init__(self, db: SQLiteStore) -> None:
        self._db = db

    async def prune(self, policy: Prune, now: float, *, dry_run: bool = False) -> Pruned:
        key = self._db.audit.key_now()
        n = _Counts()

        def apply(conn: sqlite3.Connection) -> set[str]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                _prune(conn, policy, now, n, dry_run, key)
                live = _live(conn)
                conn.execute("ROLLBACK" if dry_run else "COMMIT")
                return live
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        live = await self._db._write(apply)
        if dry_run and (policy.file_versions is not None or policy.file_version_days is not None):
            live = await self._db._write(lambda conn: _live_after(conn, policy, now))
        return Pruned(n.runs, n.journal_entries, n.journal_bytes, n.events, n.event_bytes,
                      n.file_versions, frozenset(live))  # fmt: skip


def _live(conn: sqlite3.Connection) -> set[str]:
    live = {r[0] for r in conn.execute("SELECT DISTINCT blob FROM fs_versions")}
    return live | _result_blobs(conn)


def _live_after(conn: sqlite3.Connection, policy: Prune, now: float) -> set[str]:
    """The blobs still referenced once the versions would be pruned (dry run)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        only = Prune(file_versions=policy.file_versions,
                     file_version_days=policy.file_version_days)  # fmt: skip
        _prune(conn, only, now, _Counts(), False, None)
        return _live(conn)
    finally:
        conn.execute("ROLLBACK")


def _prune(
    conn: sqlite3.Connection,
    policy: Prune,
    now: float,
    rep: _Counts,
    dry_run: bool,
    key: bytes | None,
) -> None:
    if policy.journal_days is not None:
        cutoff = now - policy.journal_days * DAY
        conn.execute(
            "CREATE TEMP TABLE old_runs AS SELECT r.id, r.workspace FROM runs r JOIN runs root"
            " ON root.id = r.root_id WHERE root.status IN ('succeeded','failed','cancelled')"
            " AND root.updated_at < ? AND NOT EXISTS (SELECT 1 FROM runs x WHERE"
            " x.root_id = r.root_id AND x.status NOT IN ('succeeded','failed','cancelled'))",
            (cutoff,),
        )
        rep.runs = conn.execute("SELECT COUNT(*) FROM old_runs").fetchone()[0]
        n, size = conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM({_SIZE}), 0) FROM journal"
            " WHERE run_id IN (SELECT id FROM old_runs)"
        ).fetchone()
        rep.journal_entries, rep.journal_bytes = n, size
        if not dry_run:
            _audit_pruned(conn, now, key)
            for table, col in (("journal", "run_id"), ("fs_reads", "run_id"),
                               ("bus_waits", "run_id"), ("llm_usage", "run_id"),
                               ("runs", "id")):  # fmt: skip
                conn.execute(f"DELETE FROM {table} WHERE {col} IN (SELECT id FROM old_runs)")
        conn.execute("DROP TABLE old_runs")
    if policy.event_days is not None:
        cutoff = now - policy.event_days * DAY
        n, size = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(COALESCE(data,''))), 0) FROM bus_events"
            " WHERE ts < ?",
            (cutoff,),
        ).fetchone()
        rep.events, rep.event_bytes = n, size
        if not dry_run:
            conn.execute("DELETE FROM bus_events WHERE ts < ?", (cutoff,))
    old: list[str] = []
    if policy.file_versions is not None:
        old.append(
            f"version <= (SELECT MAX(version) FROM fs_versions l WHERE l.workspace = v.workspace"
            f" AND l.path = v.path) - {int(policy.file_versions)}"
        )
    if policy.file_version_days is not None:
        old.append(
            f"(ts < {now - policy.file_version_days * DAY} AND version < (SELECT MAX(version)"
            " FROM fs_versions l WHERE l.workspace = v.workspace AND l.path = v.path))"
        )
    if old:
        where = " OR ".join(old)
        rep.file_versions = conn.execute(
            f"SELECT COUNT(*) FROM fs_versions v WHERE {where}"
        ).fetchone()[0]
        if not dry_run:
            conn.execute(f"DELETE FROM fs_versions AS v WHERE {where}")


def _audit_pruned(conn: sqlite3.Connection, now: float, key: bytes | None) -> None:
    """Name the runs whose journals go, in the transaction that removes them."""
    rows: list[audit_sql.Pending] = []
    by_ws: dict[str, list[str]] = {}
    for run_id, ws in conn.execute("SELECT id, workspace FROM old_runs ORDER BY workspace, id"):
        by_ws.setdefault(ws, []).append(run_id)
    for ws, ids in by_ws.items():
        for i in range(0, len(ids), PRUNED_PER_RECORD):
            data = _dumps({"runs": ids[i : i + PRUNED_PER_RECORD]})
            rows.append((now, ws, "retention", "retention.pruned", None, None, data, None, None))
    if rows:
        audit_sql.append(conn, rows, key)


def _result_blobs(conn: sqlite3.Connection) -> set[str]:
    """The blobs holding whole tool results too large for the journal, of
    the journals that stay (see ``limits.tool_result_bytes``)."""
    rows = conn.execute(
        "SELECT json_extract(COALESCE(result, payload), '$.full.blob') FROM journal"
        " WHERE kind = 'tool' AND phase IN ('intent', 'result')"
        ' AND instr(COALESCE(result, payload), \'"full":{"blob":"\') > 0'
    )
    return {r[0] for r in rows if r[0]}
