"""Retention: what the store keeps of ended runs, events and old file
versions, and the blobs nothing refers to any more.

Only ended run trees lose their journals (a tree whose root ended before the
cutoff goes whole), so nothing a live run could replay is removed. The latest
version of every file always stays. A blob is removed only when no file
version refers to it and it is older than a grace period, so a write whose
version is being committed right now keeps its blob. The runs whose journals
go are named in the audit log (``retention.pruned``), so ``orgos audit
verify`` tells them apart from journals someone deleted."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass

from orgos.config.access import RetentionSpec
from orgos.fs.blobs import BlobStore
from orgos.store import audit as audit_sql
from orgos.store.rows import _dumps
from orgos.store.sqlite import SQLiteStore

DAY = 86_400.0
#: Unreferenced blobs younger than this stay (a write may be committing).
BLOB_GRACE = 3600.0
#: Run ids named per ``retention.pruned`` audit record.
PRUNED_PER_RECORD = 2000


@dataclass(slots=True)
class RetentionReport:
    runs: int = 0
    journal_entries: int = 0
    journal_bytes: int = 0
    events: int = 0
    event_bytes: int = 0
    file_versions: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    dry_run: bool = False

    @property
    def freed_bytes(self) -> int:
        return self.journal_bytes + self.event_bytes + self.blob_bytes

    def to_dict(self) -> dict[str, int | bool]:
        return {**asdict(self), "freed_bytes": self.freed_bytes}


_SIZE = "LENGTH(COALESCE(payload,'')) + LENGTH(COALESCE(result,''))"


def _prune(
    conn: sqlite3.Connection,
    policy: RetentionSpec,
    now: float,
    rep: RetentionReport,
    key: bytes | None = None,
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
        if not rep.dry_run:
            _audit_pruned(conn, now, key)
            for table, col in (("journal", "run_id"), ("fs_reads", "run_id"),
                               ("bus_waits", "run_id"), ("runs", "id")):  # fmt: skip
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
        if not rep.dry_run:
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
        if not rep.dry_run:
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


async def apply_retention(
    store: SQLiteStore,
    blobs: BlobStore,
    policy: RetentionSpec,
    *,
    dry_run: bool = False,
    now: float | None = None,
    blob_grace: float = BLOB_GRACE,
) -> RetentionReport:
    """Remove what the policy lets go; report what was (or would be) freed."""
    now = time.time() if now is None else now
    rep = RetentionReport(dry_run=dry_run)
    key = store.audit_key_now()

    def apply(conn: sqlite3.Connection) -> set[str]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _prune(conn, policy, now, rep, key)
            live = {r[0] for r in conn.execute("SELECT DISTINCT blob FROM fs_versions")}
            live |= _result_blobs(conn)
            if dry_run:
                conn.execute("ROLLBACK")
            else:
                conn.execute("COMMIT")
            return live
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    live = await store._write(apply)
    if dry_run and (policy.file_versions is not None or policy.file_version_days is not None):
        live = await _live_after(store, policy, now)
    for digest, size in list(blobs.all_digests()):
        if digest in live:
            continue
        if now - blobs.path_of(digest).stat().st_mtime < blob_grace:
            continue
        rep.blobs += 1
        rep.blob_bytes += size if dry_run else blobs.remove(digest)
    return rep


async def _live_after(store: SQLiteStore, policy: RetentionSpec, now: float) -> set[str]:
    """The blobs still referenced once the versions would be pruned (dry run)."""

    def apply(conn: sqlite3.Connection) -> set[str]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _prune(conn, RetentionSpec(file_versions=policy.file_versions,
                                       file_version_days=policy.file_version_days),
                   now, RetentionReport())  # fmt: skip
            live = {r[0] for r in conn.execute("SELECT DISTINCT blob FROM fs_versions")}
            return live | _result_blobs(conn)
        finally:
            conn.execute("ROLLBACK")

    return await store._write(apply)


def _result_blobs(conn: sqlite3.Connection) -> set[str]:
    """The blobs holding whole tool results too large for the journal, of
    the journals that stay (see ``limits.tool_result_bytes``)."""
    rows = conn.execute(
        "SELECT json_extract(COALESCE(result, payload), '$.full.blob') FROM journal"
        " WHERE kind = 'tool' AND phase IN ('intent', 'result')"
        ' AND instr(COALESCE(result, payload), \'"full":{"blob":"\') > 0'
    )
    return {r[0] for r in rows if r[0]}
