from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.server.rawws import OPEN


@pytest_asyncio.fixture(autouse=True)
async def close_raw_clients() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().close()
