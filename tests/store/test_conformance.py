"""The store conformance suite (``orgos.testing.conformance``), on every
backend the run chooses (``store_factory`` in conftest.py: SQLite, and
PostgreSQL with ORGOS_TEST_STORE=postgres or all)."""

from __future__ import annotations

from orgos.testing.conformance import *  # noqa: F403
