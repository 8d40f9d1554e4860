from __future__ import annotations

import pytest

from homer.store.sqlite import SQLiteStore


@pytest.fixture
def store(homer_store: SQLiteStore) -> SQLiteStore:
    return homer_store
