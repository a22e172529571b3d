"""The store conformance suite (``orgos.testing.conformance``), on every
backend the run chooses (``store_factory`` in conftest.py: SQLite, and
PostgreSQL with ORGOS_TEST_STORE=postgres or all)."""

from __future__ import annotations

import pytest

from orgos.testing.conformance import *  # noqa: F403
from orgos.testing.conformance import REPOSITORIES

#: What the PostgreSQL backend has so far (the rest are reported skipped).
POSTGRES = frozenset({"runs", "scheduling", "children", "loads", "bus"})


@pytest.fixture
def store_repositories(request: pytest.FixtureRequest) -> frozenset[str]:
    backend = request.node.callspec.params.get("store_factory", "")
    return POSTGRES if str(backend).startswith("postgres") else REPOSITORIES
