"""File versions and reads on SQLite.

A write is a new row: (path, version) with the blob's hash, its author
(agent or person), the run and syscall that wrote it, and a key that makes a
re-executed write return the version it already made. The row and its
``fs.written`` event commit together."""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

from orgos.store.records import AuthorKind, FileRef, FileVersion, Lineage, Written
from orgos.store.sqlite_bus import insert_event

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore

#: The event every new version is announced with.
WRITTEN = "fs.written"

_COLS = "path, version, blob, size, author_kind, author, run_id, ts, tainted"


def _version(r: tuple[Any, ...]) -> FileVersion:
    return FileVersion(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))


def _prefix_sql(prefix: str) -> tuple[str, list[Any]]:
    if not prefix:
        return "", []
    return " AND (path=? OR substr(path, 1, ?)=?)", [prefix, len(prefix) + 1, prefix + "/"]


class SQLiteFiles:
    def __init__(self, db: SQLiteStore) -> None:
        self._db = db

    async def put(
        self,
        workspace: str,
        path: str,
        blob: str | None,
        size: int,
        author_kind: AuthorKind,
        author: str,
        *,
        run_id: str | None = None,
        seq: int | None = None,
        key: str | None = None,
        tainted: bool = False,
    ) -> Written:
        def apply(conn: sqlite3.Connection) -> Written:
            if key is not None:
                row = conn.execute(
                    f"SELECT {_COLS} FROM fs_versions WHERE workspace=? AND key=?",
                    (workspace, key),
                ).fetchone()
                if row is not None:
                    return Written(_version(row), False)
            top = conn.execute(
                "SELECT MAX(version) FROM fs_versions WHERE workspace=? AND path=?",
                (workspace, path),
            ).fetchone()[0]
            v = FileVersion(path, (top or 0) + 1, blob, size, author_kind, author, run_id,
                            time.time(), tainted)  # fmt: skip
            conn.execute(
                "INSERT INTO fs_versions (workspace, path, version, blob, size, author_kind,"
                " author, run_id, seq, ts, key, tainted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (workspace, path, v.version, blob, size, author_kind, author, run_id, seq,
                 v.ts, key, 1 if tainted else 0),
            )  # fmt: skip
            insert_event(
                conn, workspace, WRITTEN,
                {"path": path, "version": v.version, "size": size, "deleted": blob is None,
                 "author": author, "author_kind": author_kind},
                source=author, run_id=run_id, tainted=tainted,
            )  # fmt: skip
            return Written(v, True)

        return await self._db._transact(apply)

    async def get(
        self, workspace: str, path: str, version: int | None = None
    ) -> FileVersion | None:
        if version is None:
            sql = (f"SELECT {_COLS} FROM fs_versions WHERE workspace=? AND path=?"
                   " ORDER BY version DESC LIMIT 1")  # fmt: skip
            args: tuple[Any, ...] = (workspace, path)
        else:
            sql = f"SELECT {_COLS} FROM fs_versions WHERE workspace=? AND path=? AND version=?"
            args = (workspace, path, version)
        row = self._db._read().execute(sql, args).fetchone()
        return None if row is None else _version(row)

    async def latest(self, workspace: str, prefix: str = "") -> list[FileVersion]:
        where, args = _prefix_sql(prefix)
        rows = self._db._read().execute(
            f"SELECT {_COLS} FROM fs_versions WHERE id IN (SELECT MAX(id) FROM fs_versions"
            f" WHERE workspace=?{where} GROUP BY path) AND blob IS NOT NULL ORDER BY path",
            (workspace, *args),
        )
        return [_version(r) for r in rows]

    async def history(self, workspace: str, path: str) -> list[FileVersion]:
        rows = self._db._read().execute(
            f"SELECT {_COLS} FROM fs_versions WHERE workspace=? AND path=? ORDER BY version",
            (workspace, path),
        )
        return [_version(r) for r in rows]

    async def usage(self, workspace: str, prefix: str = "") -> int:
        where, args = _prefix_sql(prefix)
        row = (
            self._db._read()
            .execute(
                "SELECT COALESCE(SUM(size), 0) FROM fs_versions WHERE id IN (SELECT MAX(id) FROM"
                f" fs_versions WHERE workspace=?{where} GROUP BY path) AND blob IS NOT NULL",
                (workspace, *args),
            )
            .fetchone()
        )
        return int(row[0])

    async def record_read(
        self, workspace: str, run_id: str, seq: int, path: str, version: int
    ) -> None:
        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO fs_reads (workspace, run_id, seq, path, version, ts)"
                " VALUES (?,?,?,?,?,?)",
                (workspace, run_id, seq, path, version, time.time()),
            )

        await self._db._write(apply)

    async def lineage(self, workspace: str, path: str, version: int) -> Lineage | None:
        conn = self._db._read()
        row = conn.execute(
            f"SELECT {_COLS}, seq FROM fs_versions WHERE workspace=? AND path=? AND version=?",
            (workspace, path, version),
        ).fetchone()
        if row is None:
            return None
        v, seq = _version(row), row[9]
        reads: list[FileRef] = []
        if v.run_id is not None:
            reads = [
                FileRef(p, n)
                for p, n in conn.execute(
                    "SELECT path, version FROM fs_reads WHERE workspace=? AND run_id=? AND seq<?"
                    " ORDER BY seq",
                    (workspace, v.run_id, seq if seq is not None else 1 << 62),
                )
            ]
        return Lineage(v, reads)
