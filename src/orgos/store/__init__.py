"""Storage: the Store protocol and its backends."""

from orgos.store.base import (
    AgentVersion,
    Append,
    Audit,
    Change,
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
    "Change",
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
    """A store from a URL: ``sqlite:///path/to/file.db`` (or a bare path), or
    ``postgresql://user@host/db[?schema=name]`` (needs ``orgos[postgres]``)."""
    from orgos.errors import ConfigError

    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        try:
            from orgos.store.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigError(
                f"a PostgreSQL store needs psycopg: pip install 'orgos[postgres]' ({exc})"
            ) from None
        return PostgresStore(url, durability)
    from orgos.store.sqlite import SQLiteStore

    if url.startswith("sqlite:///"):
        return SQLiteStore(url[len("sqlite:///") :], durability)
    if scheme:
        raise ConfigError(
            f"unsupported store URL scheme {scheme!r}; use sqlite:/// or postgresql://"
        )
    return SQLiteStore(url, durability)
