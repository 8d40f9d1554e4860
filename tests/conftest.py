from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import blockbuster_ctx

from homer.store.sqlite import SQLiteStore


@pytest.fixture
def store(homer_store: SQLiteStore) -> SQLiteStore:
    return homer_store


@pytest.fixture(autouse=True)
def no_blocking_calls_in_the_event_loop() -> Iterator[None]:
    """Fail any test in which Homer's code blocks the running event loop.

    Test bodies may block (they set the scene); anything called from ``homer``
    while the loop runs may not.
    """
    with blockbuster_ctx("homer"):
        yield
