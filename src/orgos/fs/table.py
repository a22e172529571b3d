"""File versions and reads on a SQLite store.

A write is a new row: (path, version) with the blob's hash, its author
(agent or person), the run and syscall that wrote it, and a key that makes a
re-executed write return the version it already made. The row and its
``fs.written`` event commit together."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Literal

from orgos.bus.table import insert_event
from orgos.store.sqlite import SQLiteStore

AuthorKind = Literal["agent", "person", "system"]
WRITTEN = "fs.written"


@dataclass(slots=True, frozen=True)
class FileVersion:
    path: str
    version: int
    blob: str | None  # None: the file was deleted in this version
    size: int
    author_kind: str
    author: str
    run_id: str | None
    ts: float
    #: Written by a run that had read untrusted content: whoever reads it has too.
    tainted: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "version": self.version, "blob": self.blob,
             "size": self.size, "author_kind": self.author_kind, "author": self.author,
             "run_id": self.run_id, "ts": self.ts}  # fmt: skip
        if self.tainted:
            d["tainted"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileVersion:
        return cls(d["path"], d["version"], d.get("blob"), d["size"], d["author_kind"],
                   d["author"], d.get("run_id"), d.get("ts", 0.0),
                   bool(d.get("tainted")))  # fmt: skip


_COLS = "path, version, blob, size, author_kind, author, run_id, ts, tainted"


def _version(r: tuple[Any, ...]) -> FileVersion:
    return FileVersion(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))


def _prefix_sql(prefix: str) -> tuple[str, list[Any]]:
    if not prefix:
        return "", []
    return " AND (path=? OR substr(path, 1, ?)=?)", [prefix, len(prefix) + 1, prefix + "/"]


class FileTable:
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

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
    ) -> tuple[FileVersion, bool]:
        """Record a new version (``blob`` None: a deletion). Returns it and
        whether it is new (False: ``key`` was used before). ``tainted``: the
        writing run had read untrusted content."""

        def apply(conn: sqlite3.Connection) -> tuple[FileVersion, bool]:
            if key is not None:
                row = conn.execute(
                    f"SELECT {_COLS} FROM fs_versions WHERE workspace=? AND key=?",
                    (workspace, key),
                ).fetchone()
                if row is not None:
                    return _version(row), False
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
            return v, True

        return await self.store._transact(apply)

    def get(self, workspace: str, path: str, version: int | None = None) -> FileVersion | None:
        """A version, or the latest; a deleted latest version is returned too."""
        if version is None:
            sql = (f"SELECT {_COLS} FROM fs_versions WHERE workspace=? AND path=?"
                   " ORDER BY version DESC LIMIT 1")  # fmt: skip
            args: tuple[Any, ...] = (workspace, path)
        else:
            sql = f"SELECT {_COLS} FROM fs_versions WHERE workspace=? AND path=? AND version=?"
            args = (workspace, path, version)
        row = self.store._read().execute(sql, args).fetchone()
        return None if row is None else _version(row)

    def latest(self, workspace: str, prefix: str = "") -> list[FileVersion]:
        """The live files under ``prefix`` (its latest versions, deletions left out)."""
        where, args = _prefix_sql(prefix)
        rows = self.store._read().execute(
            f"SELECT {_COLS} FROM fs_versions WHERE id IN (SELECT MAX(id) FROM fs_versions"
            f" WHERE workspace=?{where} GROUP BY path) AND blob IS NOT NULL ORDER BY path",
            (workspace, *args),
        )
        return [_version(r) for r in rows]

    def history(self, workspace: str, path: str) -> list[FileVersion]:
        rows = self.store._read().execute(
            f"SELECT {_COLS} FROM fs_versions WHERE workspace=? AND path=? ORDER BY version",
            (workspace, path),
        )
        return [_version(r) for r in rows]

    def usage(self, workspace: str, prefix: str = "") -> int:
        """Bytes held by the live files under ``prefix``."""
        where, args = _prefix_sql(prefix)
        row = (
            self.store._read()
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

        await self.store._write(apply)

    def lineage(self, workspace: str, path: str, version: int) -> dict[str, Any] | None:
        """Which run wrote this version, and which files (at which versions)
        that run had read before writing it."""
        row = (
            self.store._read()
            .execute(
                f"SELECT {_COLS}, seq FROM fs_versions WHERE workspace=? AND path=? AND version=?",
                (workspace, path, version),
            )
            .fetchone()
        )
        if row is None:
            return None
        v, seq = _version(row), row[9]
        reads: list[dict[str, Any]] = []
        if v.run_id is not None:
            reads = [
                {"path": p, "version": n}
                for p, n in self.store._read().execute(
                    "SELECT path, version FROM fs_reads WHERE run_id=? AND seq<? ORDER BY seq",
                    (v.run_id, seq if seq is not None else 1 << 62),
                )
            ]
        return {"version": v.to_dict(), "run_id": v.run_id, "read": reads}
