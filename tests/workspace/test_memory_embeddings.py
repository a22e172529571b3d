"""Semantic and hybrid recall through an OpenAI-compatible embeddings
endpoint (the fake server's embeddings stand in for a model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ws_helpers import run_code, runtime

from orgos.errors import ConfigError
from orgos.kernel.context import RunContext
from orgos.memory.embed import EndpointEmbedder
from orgos.memory.fuse import fuse
from orgos.shared import workspace_of
from orgos.testing.fake_openai import FakeOpenAIServer

#: A toy embedding with meaning in it: texts about money and texts about
#: travel point in two directions, whatever their words.
MONEY = {"refund", "money", "back", "payment", "paid", "reimburse", "eur"}
TRAVEL = {"parcel", "carrier", "shipping", "ship", "delivery", "dhl", "courier"}


def meaning(text: str) -> list[float]:
    words = {w.strip(".,?!").lower() for w in text.split()}
    return [float(len(words & MONEY)) + 0.01, float(len(words & TRAVEL)) + 0.01]


MEMORIES = [
    "Refunds are paid within 14 days.",
    "DHL is the default carrier.",
    "Reimburse the customer in EUR.",
    "Shipping to islands needs a customs form.",
]


@pytest.mark.sqlite_file
@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
async def test_semantic_and_hybrid_recall(tmp_path: Path, mode: str) -> None:
    async def recall(ctx: RunContext) -> list[str]:
        mem = workspace_of(ctx).memory
        for text in MEMORIES:
            await mem.remember(ctx, text, "agent")
        return [m.text for m in await mem.recall(ctx, "when do I get my money back?", k=2)]

    with FakeOpenAIServer(embed=meaning) as server:
        embedder = EndpointEmbedder("toy", base_url=server.base_url, api_key=None)
        rt, _ = runtime(tmp_path, {"seller": recall}, embedder=embedder, memory_search=mode)
        async with rt:
            found = await run_code(rt, "seller")
            vectors = (
                rt.store._read()
                .execute(  # type: ignore[attr-defined]
                    "SELECT COUNT(*), MIN(model) FROM memory_vectors"
                )
                .fetchone()
            )
    # no shared word with the query but "back"... the meaning finds them
    assert set(found) == {"Refunds are paid within 14 days.", "Reimburse the customer in EUR."}
    assert vectors == (4, "endpoint:toy")


def test_fusion_and_configuration(tmp_path: Path) -> None:
    assert fuse([[1, 2, 3], [3, 1, 4]], 3) == [1, 3, 2]
    with pytest.raises(ConfigError, match=r"needs memory\.embeddings"):
        runtime(tmp_path, memory_search="hybrid")
