"""Retention on PostgreSQL: ended run trees' journals, old events and old
file versions, removed in one transaction (or, dry, counted and rolled
back). The rules are SQLite's (``orgos.store.sqlite_retention``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orgos.store import audit as audit_sql
from orgos.store.postgres.audit import append
from orgos.store.records import Prune, Pruned
from orgos.store.rows import _dumps
from orgos.store.sqlite_retention import DAY, PRUNED_PER_RECORD, _Counts

if TYPE_CHECKING:
    from orgos.store.postgres.store import Cursor, PostgresStore

_SIZE = "LENGTH(COALESCE(payload,'')) + LENGTH(COALESCE(result,''))"
_ENDED = "('succeeded','failed','cancelled')"


class _Rollback(Exception):
    """Ends a dry run's transaction without keeping what it did."""


class PgRetention:
    def __init__(self, db: PostgresStore) -> None:
        self._db = db

    async def prune(self, policy: Prune, now: float, *, dry_run: bool = False) -> Pruned:
        key = self._db.audit.key_now()
        n = _Counts()
        live: set[str] = set()
        try:
            async with self._db.transaction() as cur:
                await _prune(cur, policy, now, n, dry_run, key)
                live = await _live(cur)
                if dry_run:
                    raise _Rollback
        except _Rollback:
            pass
        if dry_run and (policy.file_versions is not None or policy.file_version_days is not None):
            only = Prune(file_versions=policy.file_versions,
                         file_version_days=policy.file_version_days)  # fmt: skip
            try:
                async with self._db.transaction() as cur:
                    await _prune(cur, only, now, _Counts(), False, None)
                    live = await _live(cur)
                    raise _Rollback
            except _Rollback:
                pass
        return Pruned(n.runs, n.journal_entries, n.journal_bytes, n.events, n.event_bytes,
                      n.file_versions, frozenset(live))  # fmt: skip


async def _live(cur: Cursor) -> set[str]:
    await cur.execute("SELECT DISTINCT blob FROM fs_versions WHERE blob IS NOT NULL")
    live = {r[0] for r in await cur.fetchall()}
    # The blobs holding whole tool results too large for the journal, of the
    # journals that stay (see ``limits.tool_result_bytes``).
    await cur.execute(
        "SELECT (COALESCE(result, payload))::json -> 'full' ->> 'blob' FROM journal"
        " WHERE kind = 'tool' AND phase IN ('intent', 'result')"
        ' AND strpos(COALESCE(result, payload), \'"full":{"blob":"\') > 0'
    )
    return live | {r[0] for r in await cur.fetchall() if r[0]}


async def _prune(
    cur: Cursor, policy: Prune, now: float, rep: _Counts, dry_run: bool, key: bytes | None
) -> None:
    if policy.journal_days is not None:
        await _prune_journals(cur, now - policy.journal_days * DAY, rep, dry_run, now, key)
    if policy.event_days is not None:
        cutoff = now - policy.event_days * DAY
        await cur.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(COALESCE(data,''))), 0) FROM bus_events"
            " WHERE ts < %s",
            (cutoff,),
        )
        row = await cur.fetchone()
        rep.events, rep.event_bytes = (int(row[0]), int(row[1])) if row else (0, 0)
        if not dry_run:
            await cur.execute("DELETE FROM bus_events WHERE ts < %s", (cutoff,))
    old: list[str] = []
    latest = "(SELECT MAX(version) FROM fs_versions l WHERE l.workspace = v.workspace" \
             " AND l.path = v.path)"  # fmt: skip
    if policy.file_versions is not None:
        old.append(f"version <= {latest} - {int(policy.file_versions)}")
    if policy.file_version_days is not None:
        old.append(f"(ts < {now - policy.file_version_days * DAY} AND version < {latest})")
    if old:
        where = " OR ".join(old)
        await cur.execute(f"SELECT COUNT(*) FROM fs_versions v WHERE {where}")
        row = await cur.fetchone()
        rep.file_versions = int(row[0]) if row else 0
        if not dry_run:
            await cur.execute(f"DELETE FROM fs_versions AS v WHERE {where}")


async def _prune_journals(
    cur: Cursor, cutoff: float, rep: _Counts, dry_run: bool, now: float, key: bytes | None
) -> None:
    await cur.execute(
        "CREATE TEMP TABLE old_runs ON COMMIT DROP AS SELECT r.id, r.workspace FROM runs r"
        f" JOIN runs root ON root.id = r.root_id WHERE root.status IN {_ENDED}"
        " AND root.updated_at < %s AND NOT EXISTS (SELECT 1 FROM runs x WHERE"
        f" x.root_id = r.root_id AND x.status NOT IN {_ENDED})",
        (cutoff,),
    )
    await cur.execute("SELECT COUNT(*) FROM old_runs")
    row = await cur.fetchone()
    rep.runs = int(row[0]) if row else 0
    await cur.execute(
        f"SELECT COUNT(*), COALESCE(SUM({_SIZE}), 0) FROM journal"
        " WHERE run_id IN (SELECT id FROM old_runs)"
    )
    row = await cur.fetchone()
    rep.journal_entries, rep.journal_bytes = (int(row[0]), int(row[1])) if row else (0, 0)
    if not dry_run:
        await _audit_pruned(cur, now, key)
        for table, col in (("journal", "run_id"), ("fs_reads", "run_id"),
                           ("bus_waits", "run_id"), ("llm_usage", "run_id"),
                           ("runs", "id")):  # fmt: skip
            await cur.execute(f"DELETE FROM {table} WHERE {col} IN (SELECT id FROM old_runs)")
    await cur.execute("DROP TABLE old_runs")


async def _audit_pruned(cur: Cursor, now: float, key: bytes | None) -> None:
    """Name the runs whose journals go, in the transaction that removes them."""
    await cur.execute("SELECT id, workspace FROM old_runs ORDER BY workspace, id")
    by_ws: dict[str, list[str]] = {}
    for run_id, ws in await cur.fetchall():
        by_ws.setdefault(ws, []).append(run_id)
    rows: list[audit_sql.Pending] = []
    for ws, ids in by_ws.items():
        for i in range(0, len(ids), PRUNED_PER_RECORD):
            data = _dumps({"runs": ids[i : i + PRUNED_PER_RECORD]})
            rows.append((now, ws, "retention", "retention.pruned", None, None, data, None, None))
    if rows:
        await append(cur, rows, key)
