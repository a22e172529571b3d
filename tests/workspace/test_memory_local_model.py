"""Semantic recall with a real local embedding model. Runs where
orgos[embeddings] is installed and ORGOS_TEST_EMBED_MODEL names a
sentence-transformers folder (e.g. all-MiniLM-L6-v2); skipped elsewhere."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ws_helpers import runtime

from orgos.memory.quality import evaluate

MODEL = os.environ.get("ORGOS_TEST_EMBED_MODEL", "")
RECALL_SET = Path(__file__).parents[2] / "bench" / "data" / "recall_set.json"

pytestmark = pytest.mark.skipif(
    not MODEL or not Path(MODEL).is_dir(), reason="set ORGOS_TEST_EMBED_MODEL to a model folder"
)


async def test_semantic_recall_beats_keywords_on_the_labeled_set(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from orgos.memory.embed import LocalEmbedder

    data = json.loads(RECALL_SET.read_text())
    queries = [(q["query"], q["relevant"]) for q in data["queries"]]
    embedder = LocalEmbedder(MODEL)
    scores = {}
    for mode in ("keyword", "semantic", "hybrid"):
        rt, _ = runtime(tmp_path / mode, embedder=embedder, memory_search=mode)
        async with rt:
            ids = {}
            for m in data["memories"]:
                ids[await rt.memory.add("default", "org", m["text"], author="t")] = m["id"]
            found = {}
            for q, _ in queries:
                found[q] = [ids[m.id] for m in await rt.memory.search("default", ["org"], q, 5)]
        scores[mode] = evaluate(found.__getitem__, queries)
    assert scores["semantic"].recall_at_k >= scores["keyword"].recall_at_k
    assert scores["hybrid"].mrr >= scores["keyword"].mrr
    assert scores["semantic"].precision_at_k >= 0.22
