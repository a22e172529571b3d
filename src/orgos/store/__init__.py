"""Storage: the Store protocol and its backends."""

from orgos.store.base import (
    AgentVersion,
    Append,
    Audit,
    Durability,
    InsertRun,
    JournalEntry,
    Op,
    RunFilter,
    RunRecord,
    RunStatus,
    Store,
    UpdateRun,
    WorkerInfo,
)

__all__ = [
    "AgentVersion",
    "Append",
    "Audit",
    "Durability",
    "InsertRun",
    "JournalEntry",
    "Op",
    "RunFilter",
    "RunRecord",
    "RunStatus",
    "Store",
    "UpdateRun",
    "WorkerInfo",
    "open_store",
]


def open_store(url: str, durability: Durability = Durability.KILL_SAFE) -> Store:
    """A store from a URL: ``sqlite:///path/to/file.db`` (or a bare path)."""
    from orgos.store.sqlite import SQLiteStore

    if url.startswith("sqlite:///"):
        return SQLiteStore(url[len("sqlite:///") :], durability)
    if "://" in url:
        from orgos.errors import ConfigError

        raise ConfigError(
            f"unsupported store URL scheme in {url.split('://')[0]!r}; use sqlite:///"
        )
    return SQLiteStore(url, durability)
