"""Long-term memory on a SQLite store, searched with FTS5 (bm25 ranking,
Porter stemming): keyword recall with no extra dependency.

A scope key is ``agent:<name>``, ``team:<name>`` or ``org``."""

from __future__ import annotations

import re
import sqlite3
import time
from array import array
from dataclasses import dataclass
from typing import Any

from orgos.store.sqlite import SQLiteStore

#: Words that carry no meaning for recall; dropping them sharpens bm25.
_STOP = """a an and are as at be by did do does for from had has have how i in is it its of on
or our should so that the their them there these they this to was we were what when where which
who why will with you your can could would about into than then any all"""
STOPWORDS = frozenset(_STOP.split())
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(slots=True, frozen=True)
class MemoryItem:
    id: int
    scope: str
    text: str
    tags: str
    source_run: str | None
    author: str
    ts: float
    score: float = 0.0
    #: Remembered by a run that had read untrusted content.
    tainted: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "scope": self.scope, "text": self.text, "tags": self.tags,
             "source_run": self.source_run, "author": self.author, "ts": self.ts,
             "score": self.score}  # fmt: skip
        if self.tainted:
            d["tainted"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemoryItem:
        return cls(d["id"], d["scope"], d["text"], d.get("tags", ""), d.get("source_run"),
                   d["author"], d.get("ts", 0.0), d.get("score", 0.0),
                   bool(d.get("tainted")))  # fmt: skip


def fts_query(text: str) -> str | None:
    """Any of the meaningful words, each quoted (no FTS syntax gets through)."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    if not words:
        words = _WORD.findall(text.lower())
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


class MemoryTable:
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
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
        vector: tuple[str, list[float]] | None = None,
        tainted: bool = False,
    ) -> tuple[int, bool]:
        """Store a memory (and its embedding: model name, vector); a ``key``
        seen before returns the first one's id. ``tainted``: the run that
        remembered it had read untrusted content."""

        def apply(conn: sqlite3.Connection) -> tuple[int, bool]:
            if key is not None:
                row = conn.execute(
                    "SELECT id FROM memories WHERE workspace=? AND key=?", (workspace, key)
                ).fetchone()
                if row is not None:
                    return int(row[0]), False
            cur = conn.execute(
                "INSERT INTO memories (workspace, scope, text, tags, source_run, author, key,"
                " ts, tainted) VALUES (?,?,?,?,?,?,?,?,?)",
                (workspace, scope, text, tags, source_run, author, key, time.time(), int(tainted)),
            )
            if vector is not None:
                conn.execute(
                    "INSERT INTO memory_vectors (memory_id, workspace, model, vec)"
                    " VALUES (?,?,?,?)",
                    (cur.lastrowid, workspace, vector[0], array("f", vector[1]).tobytes()),
                )
            return int(cur.lastrowid or 0), True

        return await self.store._transact(apply)

    def search(self, workspace: str, scopes: list[str], query: str, k: int = 5) -> list[MemoryItem]:
        """The ``k`` best matches in these scopes, best first."""
        q = fts_query(query)
        if q is None or not scopes:
            return []
        marks = ",".join("?" * len(scopes))
        rows = self.store._read().execute(
            "SELECT m.id, m.scope, m.text, m.tags, m.source_run, m.author, m.ts,"
            " bm25(memories_fts, 1.0, 0.5) AS rank, m.tainted FROM memories_fts"
            " JOIN memories m ON m.id = memories_fts.rowid"
            f" WHERE memories_fts MATCH ? AND m.workspace=? AND m.scope IN ({marks})"
            " ORDER BY rank LIMIT ?",
            (q, workspace, *scopes, k),
        )
        return [MemoryItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], -r[7], bool(r[8]))
                for r in rows]  # fmt: skip

    def by_ids(self, ids: list[int]) -> dict[int, MemoryItem]:
        if not ids:
            return {}
        rows = self.store._read().execute(
            "SELECT id, scope, text, tags, source_run, author, ts, tainted FROM memories"
            f" WHERE id IN ({','.join('?' * len(ids))})",
            ids,
        )
        return {
            r[0]: MemoryItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tainted=bool(r[7]))
            for r in rows
        }

    def search_vector(
        self, workspace: str, scopes: list[str], model: str, query: list[float], k: int = 5
    ) -> list[MemoryItem]:
        """The ``k`` memories whose embeddings (by ``model``) are closest to
        ``query`` (cosine; vectors are stored normalized)."""
        vs = self._vectors.setdefault((workspace, model), _Vectors())
        vs.load(self.store, workspace, model)
        wanted = set(scopes)
        scored = vs.top(query, [i for i, s in enumerate(vs.scopes) if s in wanted], k)
        found = self.by_ids([mid for mid, _ in scored])
        return [
            MemoryItem(
                m.id, m.scope, m.text, m.tags, m.source_run, m.author, m.ts, score, m.tainted
            )
            for mid, score in scored
            if (m := found.get(mid)) is not None
        ]

    def count(self, workspace: str) -> int:
        row = (
            self.store._read()
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

    def load(self, store: SQLiteStore, workspace: str, model: str) -> None:
        rows = (
            store._read()
            .execute(
                "SELECT v.memory_id, m.scope, v.vec FROM memory_vectors v JOIN memories m"
                " ON m.id = v.memory_id WHERE v.workspace=? AND v.model=? AND v.memory_id>?"
                " ORDER BY v.memory_id",
                (workspace, model, self.last),
            )
            .fetchall()
        )
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


def fuse(rankings: list[list[int]], k: int, c: int = 60) -> list[int]:
    """Reciprocal rank fusion: each list votes 1/(c + rank) for its ids."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, mid in enumerate(ranking):
            score[mid] = score.get(mid, 0.0) + 1.0 / (c + rank + 1)
    return sorted(score, key=lambda m: -score[m])[:k]
