"""What the conformance tests share: the fixtures a backend provides or
inherits, and the records they build."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest

from orgos.store import RunRecord, Store, WorkerInfo

#: Makes a fresh Store (not yet open) on one database: every call opens the
#: same database (several workers), a new test gets a new, empty one.
StoreFactory = Callable[[], Store]

#: Every repository the suite covers, as ``Store`` names them (plus ``runs``:
#: the store itself, runs, journal, workers and leases).
REPOSITORIES = frozenset({
    "runs", "scheduling", "children", "loads", "approvals", "governance", "usage", "audit",
    "people", "files", "blobs", "bus", "memory", "retention",
})  # fmt: skip

WS = "acme"


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    """An open store on the backend's fresh database, closed after the test."""
    s = store_factory()
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def store_repositories() -> frozenset[str]:
    """The repositories the backend under test implements (all of them by
    default). A backend still building some overrides this fixture: the tests
    of the others are then reported as skipped, each naming what is missing."""
    return REPOSITORIES


def need(have: frozenset[str], repository: str) -> None:
    """Skip (visibly, as not done) a test of a repository the backend lacks."""
    if repository not in have:
        pytest.skip(f"the backend has no {repository} repository yet")


def run(rid: str, *, ws: str = WS, parent: RunRecord | None = None, **kw: object) -> RunRecord:
    return RunRecord(
        id=rid,
        workspace=ws,
        kind="agent",
        target="a",
        target_version=1,
        input={"task": rid},
        parent_id=parent.id if parent else None,
        root_id=parent.root_id if parent else rid,
        created_at=time.time(),
        **kw,  # type: ignore[arg-type]
    )


async def worker(store: Store, wid: str, ttl: float = 60.0) -> str:
    await store.workers.register(WorkerInfo(wid, "host", 1, time.time() + ttl))
    return wid
