"""Recall quality on a labeled set: precision@k, recall@k and MRR."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orgos.memory.service import Memory


@dataclass(slots=True, frozen=True)
class Quality:
    queries: int
    precision_at_k: float
    recall_at_k: float
    mrr: float
    k: int
    #: wall time of one search, averaged (0 when not timed)
    seconds_per_query: float = 0.0


@dataclass(slots=True, frozen=True)
class Query:
    text: str
    relevant: tuple[int, ...]
    #: what kind of query it is (e.g. a paraphrase, a name), to score kinds apart
    kind: str = ""


@dataclass(slots=True, frozen=True)
class LabeledSet:
    """Memories with ids, and queries with the ids of their relevant memories."""

    memories: tuple[tuple[int, str], ...]
    queries: tuple[Query, ...]

    @classmethod
    def load(cls, path: Path) -> LabeledSet:
        """A JSON file: ``{"memories": [{"id", "text"}], "queries": [{"query",
        "relevant", "kind" (optional)}]}``."""
        data = json.loads(path.read_text())
        return cls(
            tuple((int(m["id"]), str(m["text"])) for m in data["memories"]),
            tuple(
                Query(str(q["query"]), tuple(map(int, q["relevant"])), str(q.get("kind", "")))
                for q in data["queries"]
            ),
        )

    def pairs(self, kind: str | None = None) -> list[tuple[str, tuple[int, ...]]]:
        """(query, relevant ids) of every query, or of one kind."""
        return [(q.text, q.relevant) for q in self.queries if kind in (None, q.kind)]

    def best_precision(self, k: int = 5, kind: str | None = None) -> float:
        """Precision@k of a perfect ranker (queries with fewer than k relevant
        memories cannot fill k places)."""
        pairs = self.pairs(kind)
        return sum(min(k, len(r)) for _, r in pairs) / k / len(pairs)


def evaluate(
    search: Callable[[str], Sequence[int]],
    queries: Sequence[tuple[str, Sequence[int]]],
    k: int = 5,
) -> Quality:
    """``search`` returns ids, best first; each query has its relevant ids."""
    p = r = rr = 0.0
    for query, relevant in queries:
        rel = set(relevant)
        got = list(search(query))[:k]
        hits = [i for i in got if i in rel]
        p += len(hits) / k
        r += len(hits) / len(rel)
        rr += next((1 / (n + 1) for n, i in enumerate(got) if i in rel), 0.0)
    n = len(queries)
    return Quality(n, p / n, r / n, rr / n, k)


@dataclass(slots=True, frozen=True)
class Rankings:
    """What a memory's search returned for each query of a labeled set."""

    found: dict[str, list[int]]
    seconds_per_query: float

    def score(self, labeled: LabeledSet, k: int = 5, kind: str | None = None) -> Quality:
        q = evaluate(self.found.__getitem__, labeled.pairs(kind), k)
        return Quality(q.queries, q.precision_at_k, q.recall_at_k, q.mrr, k,
                       self.seconds_per_query)  # fmt: skip


async def rank(
    memory: Memory, labeled: LabeledSet, *, k: int = 5, workspace: str = "default"
) -> Rankings:
    """Remember the set's memories (org scope) in ``memory``, then search it
    for each of the set's queries, in the memory's own search mode."""
    ids: dict[int, int] = {}
    for label, text in labeled.memories:
        ids[await memory.add(workspace, "org", text, author="quality")] = label
    found: dict[str, list[int]] = {}
    t0 = time.perf_counter()
    for q in labeled.queries:
        found[q.text] = [ids[m.id] for m in await memory.search(workspace, ["org"], q.text, k)]
    return Rankings(found, (time.perf_counter() - t0) / len(labeled.queries))
