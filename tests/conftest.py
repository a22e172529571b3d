"""Shared fixtures. The ``store`` fixture runs every test that uses it on
every backend: that is the store conformance suite's contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from orgos.store import Durability, Store
from orgos.store.sqlite import SQLiteStore

StoreFactory = Callable[[], Store]

#: Every backend the conformance suite runs on. A new backend adds a line.
BACKENDS: dict[str, Callable[[Path], StoreFactory]] = {
    "sqlite-kill-safe": lambda tmp: lambda: SQLiteStore(tmp / "s.db", Durability.KILL_SAFE),
    "sqlite-power-safe": lambda tmp: lambda: SQLiteStore(tmp / "s.db", Durability.POWER_SAFE),
}


@pytest.fixture(params=sorted(BACKENDS))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Makes stores that all open the same database (several workers)."""
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    s = store_factory()
    await s.open()
    try:
        yield s
    finally:
        await s.close()
