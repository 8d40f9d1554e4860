from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from homer.testing.server import TestServer, running_homer


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    async with running_homer(tmp_path / "server") as running:
        yield running
