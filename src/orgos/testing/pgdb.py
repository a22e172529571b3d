"""Fresh PostgreSQL stores for tests (``ORGOS_TEST_STORE=postgres``): each
test a schema of its own (the SQL is the store's: orgos.store.postgres.schemas)."""

from orgos.store.postgres.schemas import Schemas, with_schema

__all__ = ["Schemas", "with_schema"]
