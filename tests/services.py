"""The real PostgreSQL and RabbitMQ the tests run against, each test in a
database and an exchange of its own that are removed afterwards.

``HOMER_TEST_POSTGRESQL`` (an admin URL; default the ``test`` database on
127.0.0.1:5432) and ``HOMER_TEST_AMQP`` (default guest on 127.0.0.1:5672) point
elsewhere. ``scripts/services`` starts both when they are not running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg

POSTGRESQL = os.environ.get("HOMER_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
AMQP = os.environ.get("HOMER_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextlib.asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A new, empty database; dropped afterwards. Yields its URL."""
    name = f"homer_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(POSTGRESQL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL does not answer at {POSTGRESQL} ({exc}): run scripts/services"
        ) from exc
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield _with_database(POSTGRESQL, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def scratch_exchange() -> AsyncIterator[str]:
    """A fresh exchange name for one run; the exchange is deleted afterwards (over a
    connection of its own: a test may have restarted the broker meanwhile)."""
    name = f"homer-test-{uuid.uuid4().hex[:12]}"
    try:
        connection = await aio_pika.connect(AMQP, timeout=10)
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        raise RuntimeError(
            f"RabbitMQ does not answer at {AMQP} ({exc}): run scripts/services"
        ) from exc
    await connection.close()
    try:
        yield name
    finally:
        connection = await aio_pika.connect(AMQP, timeout=30)
        async with connection:
            channel = await connection.channel()
            await channel.exchange_delete(name)


async def rabbitmqctl(*args: str) -> str:
    """Run ``rabbitmqctl`` against the local server; its output. Fails the test if it fails."""
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"rabbitmqctl {' '.join(args)} failed:\n{text}"
    return text
