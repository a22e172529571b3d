"""Hybrid recall: one ranking from a keyword and a semantic one."""

from __future__ import annotations


def fuse(rankings: list[list[int]], k: int, c: int = 60) -> list[int]:
    """Reciprocal rank fusion: each list votes 1/(c + rank) for its ids."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, mid in enumerate(ranking):
            score[mid] = score.get(mid, 0.0) + 1.0 / (c + rank + 1)
    return sorted(score, key=lambda m: -score[m])[:k]
