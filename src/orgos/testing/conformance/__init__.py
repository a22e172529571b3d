"""The store conformance suite: every backend runs it, unchanged.

A backend's test module imports the suite and provides one fixture,
``store_factory``: a callable that makes a fresh (unopened) ``Store`` on one
new, empty database per test (each call opens the same database: several
workers). The suite runs with pytest and pytest-asyncio (``asyncio_mode =
"auto"``)::

    # tests/test_my_store.py
    import pytest
    from orgos.testing.conformance import *  # noqa: F403

    @pytest.fixture
    def store_factory(tmp_path):
        return lambda: MyStore(tmp_path / "db")

A backend still building some repositories overrides ``store_repositories``
(the names it has, from ``REPOSITORIES``): the tests of the others are
reported as skipped, naming what is missing.
"""

from orgos.testing.conformance import fencing, governance, runs, scheduling, workspace
from orgos.testing.conformance._kit import (
    REPOSITORIES,
    StoreFactory,
    store,
    store_repositories,
)
from orgos.testing.conformance.fencing import *  # noqa: F403
from orgos.testing.conformance.governance import *  # noqa: F403
from orgos.testing.conformance.runs import *  # noqa: F403
from orgos.testing.conformance.scheduling import *  # noqa: F403
from orgos.testing.conformance.workspace import *  # noqa: F403

#: The suite's tests, by name, and what a backend's module needs besides.
TESTS = sorted(
    name for m in (runs, scheduling, workspace, governance, fencing) for name in vars(m)
    if name.startswith("test_")
)  # fmt: skip
__all__ = ["REPOSITORIES", "TESTS", "StoreFactory", "store", "store_repositories", *TESTS]
