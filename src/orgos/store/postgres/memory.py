"""Long-term memory on PostgreSQL: keyword recall with the ``tsvector``
column (English stemming, a GIN index, ranked by ``ts_rank``); embeddings
are float32 ``bytea`` searched by cosine in process, as on SQLite."""

from __future__ import annotations

import time
from array import array
from typing import TYPE_CHECKING, Any

from orgos.store.records import Embedding, MemoryItem, Remembered
from orgos.store.sqlite_memory import _WORD, STOPWORDS, _Vectors

if TYPE_CHECKING:
    from orgos.store.postgres.store import PostgresStore

_COLS = "id, scope, text, tags, source_run, author, ts, tainted"


def ts_query(text: str) -> str | None:
    """Any of the meaningful words (``websearch_to_tsquery`` syntax: no
    operator of the user's gets through, the words are only letters and digits)."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    if not words:
        words = _WORD.findall(text.lower())
    if not words:
        return None
    return " OR ".join(dict.fromkeys(words))


class PgMemory:
    def __init__(self, db: PostgresStore) -> None:
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
        async with self._db.transaction() as cur:
            await cur.execute(
                "INSERT INTO memories (workspace, scope, text, tags, source_run, author, key,"
                " ts, tainted) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)"
                " ON CONFLICT (workspace, key) WHERE key IS NOT NULL DO NOTHING RETURNING id",
                (workspace, scope, text, tags, source_run, author, key, time.time(), int(tainted)),
            )
            row = await cur.fetchone()
            if row is None:  # the key was seen before
                await cur.execute(
                    "SELECT id FROM memories WHERE workspace=%s AND key=%s", (workspace, key)
                )
                first = await cur.fetchone()
                return Remembered(int(first[0]) if first else 0, False)
            if vector is not None:
                await cur.execute(
                    "INSERT INTO memory_vectors (memory_id, workspace, model, vec)"
                    " VALUES (%s,%s,%s,%s)",
                    (row[0], workspace, vector.model, array("f", vector.vector).tobytes()),
                )
            return Remembered(int(row[0]), True)

    async def search(
        self, workspace: str, scopes: list[str], query: str, k: int = 5
    ) -> list[MemoryItem]:
        q = ts_query(query)
        if q is None or not scopes:
            return []
        rows = await self._db._all(
            "SELECT id, scope, text, tags, source_run, author, ts, ts_rank(tsv, q) AS rank,"
            " tainted FROM memories, websearch_to_tsquery('english', %s) AS q"
            " WHERE tsv @@ q AND workspace=%s AND scope = ANY(%s)"
            " ORDER BY rank DESC, id LIMIT %s",
            (q, workspace, scopes, k),
        )
        return [MemoryItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], float(r[7]), bool(r[8]))
                for r in rows]  # fmt: skip

    async def by_ids(self, workspace: str, ids: list[int]) -> dict[int, MemoryItem]:
        if not ids:
            return {}
        rows = await self._db._all(
            f"SELECT {_COLS} FROM memories WHERE workspace=%s AND id = ANY(%s)", (workspace, ids)
        )
        return {
            r[0]: MemoryItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tainted=bool(r[7]))
            for r in rows
        }

    async def search_vector(
        self, workspace: str, scopes: list[str], model: str, query: list[float], k: int = 5
    ) -> list[MemoryItem]:
        vs = self._vectors.setdefault((workspace, model), _Vectors())
        rows: list[Any] = await self._db._all(
            "SELECT v.memory_id, m.scope, v.vec FROM memory_vectors v JOIN memories m"
            " ON m.id = v.memory_id WHERE v.workspace=%s AND v.model=%s AND v.memory_id>%s"
            " ORDER BY v.memory_id",
            (workspace, model, vs.last),
        )
        vs.add([(mid, scope, bytes(blob)) for mid, scope, blob in rows])
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
        row = await self._db._one("SELECT COUNT(*) FROM memories WHERE workspace=%s", (workspace,))
        return int(row[0])
