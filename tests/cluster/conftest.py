"""What every cluster test starts from: a fresh database, a fresh exchange, and a
proxy in front of RabbitMQ that a test can stall or cut."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from homer.testing.faults import FaultProxy
from tests.services import AMQP, scratch_database, scratch_exchange


@pytest_asyncio.fixture
async def store_url() -> AsyncIterator[str]:
    """A fresh database; each node keeps 4 connections to it, not the default 10, so
    that the parallel run's cluster tests stay under PostgreSQL's 100 connections."""
    async with scratch_database() as url:
        yield f"{url}{'&' if '?' in url else '?'}pool_size=4"


@pytest_asyncio.fixture
async def exchange() -> AsyncIterator[str]:
    async with scratch_exchange() as name:
        yield name


@pytest_asyncio.fixture
async def broker_proxy() -> AsyncIterator[FaultProxy]:
    """The nodes reach RabbitMQ through this, so a test can take the broker away."""
    target = urlsplit(AMQP)
    async with FaultProxy(target.hostname or "127.0.0.1", target.port or 5672) as proxy:
        yield proxy


@pytest.fixture
def busy_core() -> Iterator[None]:
    """Another process keeps a core busy, as on a shared machine: the nodes' tasks
    then interleave in the ways a quiet machine hides."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        burner.kill()
        burner.wait()
