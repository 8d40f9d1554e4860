"""RabbitMQ for the broker tests: ``HOMER_TEST_AMQP``, or a local server with the
default account. Each test gets an exchange of its own, deleted at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest

from homer.broker.rabbitmq import redacted
from homer.testing.faults import FaultProxy
from tests.services import AMQP, scratch_exchange

AMQP_URL = AMQP


@pytest.fixture
async def amqp() -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    """A connection of the test's own, for what the adapter does not do."""
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=3)
    except Exception as exc:
        pytest.fail(
            f"RabbitMQ does not answer at {redacted(AMQP_URL)} ({exc!r}): the broker tests "
            "need one; start it, or point HOMER_TEST_AMQP at one",
            pytrace=False,
        )
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def exchange(amqp: aio_pika.abc.AbstractConnection) -> AsyncIterator[str]:
    """A fresh exchange name: tests and runs never see each other's traffic."""
    async with scratch_exchange() as name:
        yield name


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    """A relay to RabbitMQ that a test can cut, as if the broker went away."""
    url = aio_pika.connection.make_url(AMQP_URL)
    async with FaultProxy(url.host or "127.0.0.1", url.port or 5672) as relay:
        yield relay
