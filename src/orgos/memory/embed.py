"""Embeddings for semantic recall, an option: an OpenAI-compatible
``/v1/embeddings`` endpoint, or a local sentence-transformers model
(``pip install orgos[embeddings]``). Keyword search needs neither."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Mapping
from typing import Any, Protocol

from orgos.config.access import EmbeddingsConfig
from orgos.errors import ConfigError


class Embedder(Protocol):
    """Turns texts into vectors; ``name`` says which model made them (vectors
    of different models are never compared)."""

    @property
    def name(self) -> str: ...

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


def normalize(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


class EndpointEmbedder:
    def __init__(self, model: str, *, base_url: str | None, api_key: str | None) -> None:
        from openai import AsyncOpenAI

        self._model = model
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key or "unused", max_retries=3)

    @property
    def name(self) -> str:
        return f"endpoint:{self._model}"

    async def embed(self, texts: list[str]) -> list[list[float]]:
        resp = await self._client.embeddings.create(model=self._model, input=texts)
        return [normalize(list(d.embedding)) for d in sorted(resp.data, key=lambda d: d.index)]


class LocalEmbedder:
    """A sentence-transformers model from a local folder (weights never come
    from a hub at run time)."""

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(
                "local embeddings need sentence-transformers: pip install 'orgos[embeddings]'"
            ) from None
        self._model_name = model
        self._model: Any = SentenceTransformer(model, device="cpu")

    @property
    def name(self) -> str:
        return f"local:{os.path.basename(self._model_name.rstrip('/'))}"

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vecs = await asyncio.to_thread(self._model.encode, texts, normalize_embeddings=True)
        return [list(map(float, v)) for v in vecs]


def build_embedder(cfg: EmbeddingsConfig | None, env: Mapping[str, str]) -> Embedder | None:
    if cfg is None:
        return None
    if cfg.provider == "local":
        return LocalEmbedder(cfg.model)
    return EndpointEmbedder(cfg.model, base_url=cfg.base_url, api_key=env.get(cfg.api_key_env))
