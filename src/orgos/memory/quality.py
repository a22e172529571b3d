"""Recall quality on a labeled set: precision@k, recall@k and MRR."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Quality:
    queries: int
    precision_at_k: float
    recall_at_k: float
    mrr: float
    k: int


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
