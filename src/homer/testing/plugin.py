"""Homer's pytest plugin: fixtures for applications that test their code on Homer.

Loaded automatically when Homer is installed (entry point ``pytest11``). The
async fixtures need pytest-asyncio (``pip install homer[test]``); without it
the plugin offers nothing and stays out of the way.

- ``homer_clock``: a :class:`~homer.clock.ManualClock` for everything that expires;
- ``homer_store``: an opened SQLite store in the test's temporary directory;
- ``homer_identity``: the identity layer on that store, with cheap password
  hashing and the manual clock;
- ``homer_server``: a running node on 127.0.0.1 (a free port) with its
  ``client(name)`` factory, see :mod:`homer.testing.server`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homer.clock import ManualClock

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_ASYNCIO_PLUGIN = False
else:
    HAVE_ASYNCIO_PLUGIN = True


@pytest.fixture
def homer_clock() -> ManualClock:
    return ManualClock()


if HAVE_ASYNCIO_PLUGIN:
    from homer.config import HomerConfig
    from homer.identity.passwords import Argon2Params
    from homer.identity.service import Identity
    from homer.store.sqlite import SQLiteStore
    from homer.testing.server import TestServer, running_homer

    @pytest_asyncio.fixture
    async def homer_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "homer.db")
        await store.open()
        try:
            yield store
        finally:
            await store.close()

    @pytest_asyncio.fixture
    async def homer_server(tmp_path: Path) -> AsyncIterator[TestServer]:
        async with running_homer(tmp_path / "server") as server:
            yield server

    @pytest_asyncio.fixture
    async def homer_identity(tmp_path: Path, homer_clock: ManualClock) -> AsyncIterator[Identity]:
        identity = await Identity.open(
            HomerConfig(data_dir=str(tmp_path / "data")),
            password_params=Argon2Params.cheap(),
            clock=homer_clock,
        )
        try:
            yield identity
        finally:
            await identity.close()
