"""Shared fixtures. The ``store`` fixture runs every test that uses it on
every backend chosen: that is the store conformance suite's contract.

``ORGOS_TEST_STORE`` chooses the backends: ``sqlite`` (the default),
``postgres``, or ``all``. PostgreSQL is the server at ``ORGOS_TEST_PG``
(default ``postgresql://postgres@127.0.0.1:5432/test``); each test gets a
schema of its own (``orgos.testing.pgdb``), dropped after the test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from orgos.store import Durability, Store
from orgos.store.sqlite import SQLiteStore
from orgos.testing.pgdb import Schemas

StoreFactory = Callable[[], Store]

PG_URL = os.environ.get("ORGOS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CHOICE = os.environ.get("ORGOS_TEST_STORE", "sqlite")
if CHOICE not in ("sqlite", "postgres", "all"):
    raise pytest.UsageError(f"ORGOS_TEST_STORE={CHOICE!r}: use sqlite, postgres or all")


def _postgres(durability: Durability) -> Callable[[str], StoreFactory]:
    def make(url: str) -> StoreFactory:
        from orgos.store.postgres import PostgresStore

        return lambda: PostgresStore(url, durability)

    return make


def _sqlite(durability: Durability) -> Callable[[str], StoreFactory]:
    return lambda path: lambda: SQLiteStore(path, durability)


#: Every backend the conformance suite runs on. A new backend adds a line.
ALL_BACKENDS: dict[str, Callable[[str], StoreFactory]] = {
    "sqlite-kill-safe": _sqlite(Durability.KILL_SAFE),
    "sqlite-power-safe": _sqlite(Durability.POWER_SAFE),
    "postgres-kill-safe": _postgres(Durability.KILL_SAFE),
    "postgres-power-safe": _postgres(Durability.POWER_SAFE),
}
BACKENDS = {k: v for k, v in ALL_BACKENDS.items() if CHOICE == "all" or k.startswith(CHOICE)}


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[Schemas]:
    schemas = Schemas(PG_URL)
    schemas.check()  # an unreachable server: one clear error, naming it
    yield schemas


@pytest.fixture
def pg_store_url(pg_schemas: Schemas, tmp_path: Path) -> Iterator[str]:
    """The URL of a store in a fresh PostgreSQL schema, dropped after the
    test (its file contents in the test's folder)."""
    with pg_schemas.fresh() as url:
        yield with_blobs(url, tmp_path)


def with_blobs(url: str, tmp: Path) -> str:
    """A PostgreSQL store URL keeping its file contents under ``tmp``."""
    return f"{url}&blobs={quote(str(tmp / 'blobs'))}"


@pytest.fixture(autouse=True)
def _drop_test_schemas(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used ``stores.store_for``: drop its schemas."""
    if CHOICE == "sqlite" or "tmp_path" not in request.fixturenames:
        yield
        return
    from stores import schema_prefix

    prefix = schema_prefix(request.getfixturevalue("tmp_path"))
    schemas: Schemas = request.getfixturevalue("pg_schemas")
    yield
    schemas.drop_all(prefix)


@pytest.fixture(params=sorted(BACKENDS))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores that all open the same database (several workers)."""
    if request.param.startswith("postgres"):
        dbs: Schemas = request.getfixturevalue("pg_schemas")
        with dbs.fresh() as url:
            yield BACKENDS[request.param](with_blobs(url, tmp_path))
    else:
        yield BACKENDS[request.param](str(tmp_path / "s.db"))


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    s = store_factory()
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh store of the backend under test: a SQLite file in
    the test's folder, or (``postgres``, ``all``) a schema of its own."""
    if CHOICE == "sqlite":
        yield f"sqlite:///{tmp_path / 'o.db'}"
        return
    dbs: Schemas = request.getfixturevalue("pg_schemas")
    with dbs.fresh() as url:
        yield with_blobs(url, tmp_path)
