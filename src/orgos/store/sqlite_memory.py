"""Long-term memory on SQLite, searched with FTS5 (bm25 ranking, Porter
stemming): keyword recall with no extra dependency; embeddings are kept as
float32 blobs and searched by cosine in process (numpy when installed)."""

from __future__ import annotations

import re
import sqlite3
import time
from array import array
from typing import TYPE_CHECKING, Any

from orgos.store.records import Embedding, MemoryItem, Remembered

if TYPE_CHECKING:
    from orgos.store.sqlite import SQLiteStore

#: Words that carry no meaning for recall; dropping them sharpens bm25.
_STOP = """a an and are as at be by did do does for from had has have how i in is it its of on
or our should so that the their them there these they this to was we were what when where which
who why will with you your can could would about into than then any all"""
STOPWORDS = frozenset(_STOP.split())
_WORD = re.compile(r"\w+", re.UNICODE)
_COLS = "id, scope, text, tags, source_run, author, ts, tainted"


def fts_query(text: str) -> str | None:
    """Any of the meaningful words, each quoted (no FTS syntax gets through)."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    if not words:
        words = _WORD.findall(text.lower())
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


class SQLiteMemory:
    def __init__(self, db: SQLiteStore) -> None:
        self._db = db
        #: (workspace, model) -> vectors loaded so far (memories never change)
        self._vectors: dict[tuple[str, str], _Vectors] = {}

    async def add(
        self,
        workspace: str,
        scope: str,
        text: str,
        *,
        author: str,
        tags: str = "",
        source_run: str | None = None,
        key: str | None = None,
        vector: Embedding | None = None,
        tainted: bool = False,
    ) -> Remembered:
        def apply(conn: sqlite3.Connection) -> Remembered:
            if key is not None:
                row = conn.execute(
                    "SELECT id FROM memories WHERE workspace=? AND key=?", (workspace, key)
                ).fetchone()
                if row is not None:
                    return Remembered(int(row[0]), False)
            cur = conn.execute(
                "INSERT INTO memories (workspace, scope, text, tags, source_run, author, key,"
                " ts, tainted) VALUES (?,?,?,?,?,?,?,?,?)",
                (workspace, scope, text, tags, source_run, author, key, time.time(), int(tainted)),
            )
            if vector is not None:
                conn.execute(
                    "INSERT INTO memory_vectors (memory_id, workspace, model, vec)"
                    " VALUES (?,?,?,?)",
                    (cur.lastrowid, workspace, vector.model, array("f", vector.vector).tobytes()),
                )
            return Remembered(int(cur.lastrowid or 0), True)

        return await self._db._transact(apply)

    async def search(
        self, workspace: str, scopes: list[str], query: str, k: int = 5
    ) -> list[MemoryItem]:
        q = fts_query(query)
        if q is None or not scopes:
            return []
        marks = ",".join("?" * len(scopes))
        rows = self._db._read().execute(
            "SELECT m.id, m.scope, m.text, m.tags, m.source_run, m.author, m.ts,"
            " bm25(memories_fts, 1.0, 0.5) AS rank, m.tainted FROM memories_fts"
            " JOIN memories m ON m.id = memories_fts.rowid"
            f" WHERE memories_fts MATCH ? AND m.workspace=? AND m.scope IN ({marks})"
            " ORDER BY rank LIMIT ?",
            (q, workspace, *scopes, k),
        )
        return [MemoryItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], -r[7], bool(r[8]))
                for r in rows]  # fmt: skip

    async def by_ids(self, workspace: str, ids: list[int]) -> dict[int, MemoryItem]:
        if not ids:
            return {}
        rows = self._db._read().execute(
            f"SELECT {_COLS} FROM memories WHERE workspace=? AND id IN"
            f" ({','.join('?' * len(ids))})",
            (workspace, *ids),
        )
        return {
            r[0]: MemoryItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tainted=bool(r[7]))
            for r in rows
        }

    async def search_vector(
        self, workspace: str, scopes: list[str], model: str, query: list[float], k: int = 5
    ) -> list[MemoryItem]:
        vs = self._vectors.setdefault((workspace, model), _Vectors())
        vs.load(self._db._read(), workspace, model)
        wanted = set(scopes)
        scored = vs.top(query, [i for i, s in enumerate(vs.scopes) if s in wanted], k)
        found = await self.by_ids(workspace, [mid for mid, _ in scored])
        return [
            MemoryItem(
                m.id, m.scope, m.text, m.tags, m.source_run, m.author, m.ts, score, m.tainted
            )
            for mid, score in scored
            if (m := found.get(mid)) is not None
        ]

    async def count(self, workspace: str) -> int:
        row = (
            self._db._read()
            .execute("SELECT COUNT(*) FROM memories WHERE workspace=?", (workspace,))
            .fetchone()
        )
        return int(row[0])


class _Vectors:
    """Embeddings of one workspace and model, loaded incrementally."""

    def __init__(self) -> None:
        self.last = 0
        self.ids: list[int] = []
        self.scopes: list[str] = []
        self.rows: list[array[float]] = []
        self._matrix: Any = None

    def load(self, conn: sqlite3.Connection, workspace: str, model: str) -> None:
        rows = conn.execute(
            "SELECT v.memory_id, m.scope, v.vec FROM memory_vectors v JOIN memories m"
            " ON m.id = v.memory_id WHERE v.workspace=? AND v.model=? AND v.memory_id>?"
            " ORDER BY v.memory_id",
            (workspace, model, self.last),
        ).fetchall()
        self.add(rows)

    def add(self, rows: list[tuple[int, str, bytes]]) -> None:
        """Rows (memory id, scope, float32 bytes) newer than ``last``, in id order."""
        for mid, scope, blob in rows:
            vec = array("f")
            vec.frombytes(blob)
            self.ids.append(mid)
            self.scopes.append(scope)
            self.rows.append(vec)
        if rows:
            self.last = rows[-1][0]
            self._matrix = None

    def top(self, query: list[float], index: list[int], k: int) -> list[tuple[int, float]]:
        if not index:
            return []
        try:
            import numpy as np
        except ImportError:  # small stores: plain Python
            scores = [(sum(a * b for a, b in zip(self.rows[i], query, strict=False)), i)
                      for i in index]  # fmt: skip
            best = sorted(scores, reverse=True)[:k]
            return [(self.ids[i], s) for s, i in best]
        if self._matrix is None or len(self._matrix) != len(self.rows):
            self._matrix = np.array([np.frombuffer(r, dtype=np.float32) for r in self.rows])
        idx = np.array(index)
        sims = self._matrix[idx] @ np.asarray(query, dtype=np.float32)
        order = np.argsort(-sims)[:k]
        return [(self.ids[int(idx[o])], float(sims[o])) for o in order]
