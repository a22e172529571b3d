"""The store a test runs on, by ``ORGOS_TEST_STORE``: ``store_for(tmp_path)``
is the SQLite file ``tmp_path / "o.db"`` (the default), or the URL of a
PostgreSQL schema named after the test's folder (``postgres``, ``all``),
with the file contents in that folder. The same folder always names the
same store, in the test and in the worker processes it starts; the schemas
are dropped after the test (``tests/conftest.py``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import quote

CHOICE = os.environ.get("ORGOS_TEST_STORE", "sqlite")
PG_URL = os.environ.get("ORGOS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def schema_prefix(tmp: Path) -> str:
    """The prefix of the names of the schemas of the test whose folder is ``tmp``."""
    return "orgos_t" + hashlib.sha256(str(tmp.resolve()).encode()).hexdigest()[:16]


def store_for(tmp: Path, name: str = "o") -> Path | str:
    """The store of the test whose folder is ``tmp`` (another ``name``: another store)."""
    if CHOICE == "sqlite":
        return tmp / f"{name}.db"
    from orgos.testing.pgdb import with_schema

    url = with_schema(PG_URL, f"{schema_prefix(tmp)}_{name}")
    return f"{url}&blobs={quote(str(tmp / f'{name}.blobs'))}"
