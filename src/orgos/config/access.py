"""Workspace permissions as data: which paths an agent or team may read and
write, and which memory scopes it may use. Agent and team specs carry them;
the workspace services enforce them on every syscall."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: ``agent``: the agent's own memories; ``team``: its team's; ``org``: everyone's.
MemoryScope = Literal["agent", "team", "org"]


class FileAccess(BaseModel):
    """Path globs: ``*`` matches within one path segment, ``**`` any number
    of segments. ``{agent}`` and ``{team}`` stand for the agent's name and team."""

    model_config = ConfigDict(extra="forbid")

    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)
    #: Bytes the files under ``teams/<team>/`` may hold (latest versions); a
    #: team setting only.
    quota_bytes: int | None = Field(default=None, ge=0)


class FilesSettings(BaseModel):
    """``files:`` in orgos.yaml: limits of the workspace filesystem."""

    model_config = ConfigDict(extra="forbid")

    max_file_mb: float = Field(default=1024, gt=0)
    #: All live files together; unset: no limit.
    quota_mb: float | None = Field(default=None, gt=0)


class RetentionSpec(BaseModel):
    """``retention:`` in orgos.yaml: what ``orgos retention`` removes. Unset
    fields keep everything of that kind."""

    model_config = ConfigDict(extra="forbid")

    #: Journals (and records) of runs that ended more than this many days ago.
    journal_days: float | None = Field(default=None, ge=0)
    #: Bus events older than this many days.
    event_days: float | None = Field(default=None, ge=0)
    #: Keep at most this many versions of each file (the latest always stays).
    file_versions: int | None = Field(default=None, ge=1)
    #: Old (not latest) file versions older than this many days.
    file_version_days: float | None = Field(default=None, ge=0)


class EmbeddingsConfig(BaseModel):
    """``memory.embeddings`` in orgos.yaml."""

    model_config = ConfigDict(extra="forbid")

    #: ``endpoint``: an OpenAI-compatible server; ``local``: sentence-transformers.
    provider: Literal["endpoint", "local"] = "endpoint"
    #: The endpoint's model name (unset: text-embedding-3-small), or the local
    #: model's folder (unset: all-MiniLM-L6-v2, packaged with orgos[embeddings]).
    model: str | None = None
    base_url: str | None = None
    #: The environment variable holding the endpoint's API key.
    api_key_env: str = "OPENAI_API_KEY"


class MemorySettings(BaseModel):
    """``memory:`` in orgos.yaml: how recall searches."""

    model_config = ConfigDict(extra="forbid")

    #: keyword (FTS5, no dependency), semantic (embeddings) or hybrid (both, fused).
    search: Literal["keyword", "semantic", "hybrid"] = "keyword"
    embeddings: EmbeddingsConfig | None = None


__all__ = [
    "EmbeddingsConfig",
    "FileAccess",
    "FilesSettings",
    "MemoryScope",
    "MemorySettings",
    "RetentionSpec",
]
