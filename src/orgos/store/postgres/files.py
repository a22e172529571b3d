"""File versions and reads on PostgreSQL (``orgos.store.sqlite_files`` has
the why). Two writers of one path at once: the path's advisory lock orders
them, so versions are numbered without gaps or twins."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from orgos.store.postgres.repos import insert_event
from orgos.store.records import AuthorKind, FileRef, FileVersion, Lineage, Written

if TYPE_CHECKING:
    from orgos.store.postgres.store import PostgresStore

WRITTEN = "fs.written"
_COLS = "path, version, blob, size, author_kind, author, run_id, ts, tainted"


def _version(r: tuple[Any, ...]) -> FileVersion:
    return FileVersion(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]))


def _prefix_sql(prefix: str) -> tuple[str, list[Any]]:
    if not prefix:
        return "", []
    return " AND (path=%s OR starts_with(path, %s))", [prefix, prefix + "/"]


class PgFiles:
    def __init__(self, db: PostgresStore) -> None:
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
        async with self._db.transaction() as cur:
            await cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.fs/' || %s || '/'"
                " || %s))",
                (workspace, path),
            )
            if key is not None:
                await cur.execute(
                    f"SELECT {_COLS} FROM fs_versions WHERE workspace=%s AND key=%s",
                    (workspace, key),
                )
                row = await cur.fetchone()
                if row is not None:
                    return Written(_version(row), False)
            await cur.execute(
                "SELECT MAX(version) FROM fs_versions WHERE workspace=%s AND path=%s",
                (workspace, path),
            )
            top = await cur.fetchone()
            v = FileVersion(path, ((top[0] if top else None) or 0) + 1, blob, size, author_kind,
                            author, run_id, time.time(), tainted)  # fmt: skip
            await cur.execute(
                "INSERT INTO fs_versions (workspace, path, version, blob, size, author_kind,"
                " author, run_id, seq, ts, key, tainted) VALUES"
                " (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (workspace, path, v.version, blob, size, author_kind, author, run_id, seq,
                 v.ts, key, int(tainted)),
            )  # fmt: skip
            await insert_event(
                cur, workspace, WRITTEN,
                {"path": path, "version": v.version, "size": size, "deleted": blob is None,
                 "author": author, "author_kind": author_kind},
                source=author, run_id=run_id, tainted=tainted,
            )  # fmt: skip
            return Written(v, True)

    async def get(
        self, workspace: str, path: str, version: int | None = None
    ) -> FileVersion | None:
        if version is None:
            sql = (f"SELECT {_COLS} FROM fs_versions WHERE workspace=%s AND path=%s"
                   " ORDER BY version DESC LIMIT 1")  # fmt: skip
            args: tuple[Any, ...] = (workspace, path)
        else:
            sql = f"SELECT {_COLS} FROM fs_versions WHERE workspace=%s AND path=%s AND version=%s"
            args = (workspace, path, version)
        row = await self._db._one(sql, args)
        return None if row is None else _version(row)

    async def latest(self, workspace: str, prefix: str = "") -> list[FileVersion]:
        where, args = _prefix_sql(prefix)
        rows = await self._db._all(
            f"SELECT {_COLS} FROM fs_versions WHERE id IN (SELECT MAX(id) FROM fs_versions"
            f" WHERE workspace=%s{where} GROUP BY path) AND blob IS NOT NULL ORDER BY path",
            (workspace, *args),
        )
        return [_version(r) for r in rows]

    async def history(self, workspace: str, path: str) -> list[FileVersion]:
        rows = await self._db._all(
            f"SELECT {_COLS} FROM fs_versions WHERE workspace=%s AND path=%s ORDER BY version",
            (workspace, path),
        )
        return [_version(r) for r in rows]

    async def usage(self, workspace: str, prefix: str = "") -> int:
        where, args = _prefix_sql(prefix)
        row = await self._db._one(
            "SELECT COALESCE(SUM(size), 0) FROM fs_versions WHERE id IN (SELECT MAX(id) FROM"
            f" fs_versions WHERE workspace=%s{where} GROUP BY path) AND blob IS NOT NULL",
            (workspace, *args),
        )
        return int(row[0])

    async def record_read(
        self, workspace: str, run_id: str, seq: int, path: str, version: int
    ) -> None:
        await self._db._exec(
            "INSERT INTO fs_reads (workspace, run_id, seq, path, version, ts)"
            " VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
            (workspace, run_id, seq, path, version, time.time()),
        )

    async def lineage(self, workspace: str, path: str, version: int) -> Lineage | None:
        row = await self._db._one(
            f"SELECT {_COLS}, seq FROM fs_versions WHERE workspace=%s AND path=%s AND version=%s",
            (workspace, path, version),
        )
        if row is None:
            return None
        v, seq = _version(row), row[9]
        reads: list[FileRef] = []
        if v.run_id is not None:
            rows = await self._db._all(
                "SELECT path, version FROM fs_reads WHERE workspace=%s AND run_id=%s AND seq<%s"
                " ORDER BY seq",
                (workspace, v.run_id, seq if seq is not None else 1 << 62),
            )
            reads = [FileRef(p, n) for p, n in rows]
        return Lineage(v, reads)
