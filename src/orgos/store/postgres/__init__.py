"""The PostgreSQL backend (``store: postgresql://...``); needs ``orgos[postgres]``."""

from orgos.store.postgres.connect import SCHEMES, parse, redact
from orgos.store.postgres.store import PostgresStore

__all__ = ["SCHEMES", "PostgresStore", "parse", "redact"]
