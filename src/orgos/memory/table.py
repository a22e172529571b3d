"""Long-term memory on a SQLite store, searched with FTS5 (bm25 ranking,
Porter stemming): keyword recall with no extra dependency.

A scope key is ``agent:<name>``, ``team:<name>`` or ``org``."""

from __future__ import annotations

import re
import sqlite3
import time
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

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "scope": self.scope, "text": self.text, "tags": self.tags,
                "source_run": self.source_run, "author": self.author, "ts": self.ts,
                "score": self.score}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemoryItem:
        return cls(d["id"], d["scope"], d["text"], d.get("tags", ""), d.get("source_run"),
                   d["author"], d.get("ts", 0.0), d.get("score", 0.0))  # fmt: skip


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
    ) -> tuple[int, bool]:
        """Store a memory; a ``key`` seen before returns the first one's id."""

        def apply(conn: sqlite3.Connection) -> tuple[int, bool]:
            if key is not None:
                row = conn.execute(
                    "SELECT id FROM memories WHERE workspace=? AND key=?", (workspace, key)
                ).fetchone()
                if row is not None:
                    return int(row[0]), False
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "INSERT INTO memories (workspace, scope, text, tags, source_run, author, key,"
                    " ts) VALUES (?,?,?,?,?,?,?,?)",
                    (workspace, scope, text, tags, source_run, author, key, time.time()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return int(cur.lastrowid or 0), True

        return await self.store._write(apply)

    def search(self, workspace: str, scopes: list[str], query: str, k: int = 5) -> list[MemoryItem]:
        """The ``k`` best matches in these scopes, best first."""
        q = fts_query(query)
        if q is None or not scopes:
            return []
        marks = ",".join("?" * len(scopes))
        rows = self.store._read().execute(
            "SELECT m.id, m.scope, m.text, m.tags, m.source_run, m.author, m.ts,"
            " bm25(memories_fts, 1.0, 0.5) AS rank FROM memories_fts"
            " JOIN memories m ON m.id = memories_fts.rowid"
            f" WHERE memories_fts MATCH ? AND m.workspace=? AND m.scope IN ({marks})"
            " ORDER BY rank LIMIT ?",
            (q, workspace, *scopes, k),
        )
        return [MemoryItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], -r[7]) for r in rows]

    def count(self, workspace: str) -> int:
        row = (
            self.store._read()
            .execute("SELECT COUNT(*) FROM memories WHERE workspace=?", (workspace,))
            .fetchone()
        )
        return int(row[0])
