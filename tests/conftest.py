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
    while the loop runs may not, with three exceptions. An SQLite append runs inline
    on purpose (docs/decisions/0016-inline-appends.md), and so do the local queues'
    calls in fast mode (docs/decisions/0017-queue-calls-on-the-loop.md). asyncpg looks for
    ``~/.pgpass`` and the TLS files under ``~/.postgresql`` while it opens a
    connection; the pool opens its connections at start-up, and later only to
    replace a broken one. The S3 client reads its service model and the AWS
    configuration files once, when the S3 blob adapter opens at start-up.
    """
    with blockbuster_ctx("homer") as blockbuster:
        for name, function in blockbuster.functions.items():
            function.can_block_in("asyncpg/connect_utils.py", "_parse_connect_dsn_and_args")
            function.can_block_in("homer/blob/s3.py", "open")
            if name.startswith("sqlite3."):
                function.can_block_in("homer/store/sqlite/database.py", "_inline")
                function.can_block_in("homer/store/sqlite/database.py", "_inline_read")
                function.can_block_in("homer/client/queues/aio.py", "_run_inline")
        yield
