from __future__ import annotations

import pytest

from homer.store.postgresql import PostgreSQLStore
from homer.testing.store_conformance import StoreConformance


class TestPostgreSQLStore(StoreConformance):
    """The adapter for several nodes passes the suite every adapter passes."""

    @pytest.fixture
    def store(self, postgresql_store: PostgreSQLStore) -> PostgreSQLStore:
        return postgresql_store
