"""The RabbitMQ adapter: the conformance suite, then what only a networked broker
does (lose its connection, come back, say so)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest

from homer.broker.rabbitmq import RabbitMQBroker, backoff, redacted
from homer.errors import BrokerError
from homer.protocol.envelope import Envelope
from homer.testing.broker_conformance import (
    BrokerConformance,
    BrokerFactory,
    Recorder,
    wait_until,
)
from homer.testing.faults import FaultProxy
from tests.broker.conftest import AMQP_URL
from tests.services import rabbitmqctl

#: Quick reconnection, for tests that wait for it.
FAST = 0.05

#: aiormq leaves the socket of a connection it did not close itself to the garbage
#: collector (mosquito/aiormq#231), which warns when it closes it: expected here.
connection_drops = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function StreamWriter.__del__"
    ":pytest.PytestUnraisableExceptionWarning",
    "ignore:unclosed <StreamWriter:ResourceWarning",
)


class TestRabbitMQBroker(BrokerConformance):
    @pytest.fixture
    async def broker_factory(self, exchange: str) -> AsyncIterator[BrokerFactory]:
        made: list[RabbitMQBroker] = []

        def make() -> RabbitMQBroker:
            made.append(RabbitMQBroker(AMQP_URL, exchange=exchange, name=f"{exchange}-{len(made)}"))
            return made[-1]

        yield make
        for broker in made:
            await broker.stop()


@pytest.fixture
async def nodes(exchange: str) -> AsyncIterator[list[RabbitMQBroker]]:
    """Brokers a test starts itself; stopped at the end."""
    made: list[RabbitMQBroker] = []
    yield made
    for broker in made:
        await broker.stop()


@pytest.fixture
def broker_logs() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("homer.broker")
    handler, level = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


async def started(
    nodes: list[RabbitMQBroker], url: str, exchange: str, *, reconnect_delay: float = 0.2
) -> tuple[RabbitMQBroker, Recorder]:
    broker = RabbitMQBroker(
        url,
        exchange=exchange,
        name=f"{exchange}-{len(nodes)}",
        reconnect_delay=reconnect_delay,
        max_reconnect_delay=max(10 * reconnect_delay, 0.5),
    )
    nodes.append(broker)
    recorder = Recorder()
    await broker.start(recorder.deliver, recorder.on_resync)
    return broker, recorder


async def publish_fails_quickly(broker: RabbitMQBroker) -> None:
    began = time.monotonic()
    with pytest.raises(BrokerError):
        await asyncio.wait_for(broker.publish("room.1", Envelope(op="away")), 5)
    assert time.monotonic() - began < 1.0, "publish must not wait for the broker"


# -- without RabbitMQ -------------------------------------------------------------------


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    for attempt in range(1, 60):
        ceiling = min(10.0, 0.1 * 2 ** (attempt - 1))
        delays = {backoff(attempt, first=0.1, cap=10.0) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1, "jitter"


def test_urls_in_logs_have_no_password() -> None:
    assert redacted("amqp://homer:s3cret@mq.example:5672/prod") == (
        "amqp://homer:***@mq.example:5672/prod"
    )
    assert redacted("amqp://mq.example/") == "amqp://mq.example/"


async def test_start_fails_clearly_when_nothing_answers() -> None:
    broker = RabbitMQBroker("amqp://homer:s3cret@127.0.0.1:9/", connect_timeout=1.0)
    began = time.monotonic()
    with pytest.raises(BrokerError, match=r"127\.0\.0\.1:9") as caught:
        await broker.start(Recorder().deliver)
    assert time.monotonic() - began < 2.0
    assert "s3cret" not in str(caught.value)
    await broker.stop()


# -- on RabbitMQ ------------------------------------------------------------------------


async def test_a_message_that_is_not_an_envelope_is_dropped(
    exchange: str, nodes: list[RabbitMQBroker], amqp: aio_pika.abc.AbstractConnection
) -> None:
    node, got = await started(nodes, AMQP_URL, exchange)
    node.bind("room.1")
    await node.settled()
    channel = await amqp.channel()
    target = await channel.get_exchange(exchange)
    await target.publish(aio_pika.Message(b"\xc1 not msgpack"), routing_key="room.1")
    await target.publish(aio_pika.Message(b"\x91\x01"), routing_key="room.1")
    await node.publish("room.1", Envelope(op="fine"))
    await got.wait_for_op("fine")
    assert got.ops() == ["fine"]
    assert node.connected


@connection_drops
async def test_publish_while_disconnected_raises_quickly(
    exchange: str, nodes: list[RabbitMQBroker], proxy: FaultProxy
) -> None:
    node, _ = await started(nodes, proxy.url(AMQP_URL), exchange, reconnect_delay=30.0)
    await node.publish("room.1", Envelope(op="while-up"))
    proxy.refuse = True  # the broker is away: nothing gets through
    proxy.cut()
    # At once, before the loss may even be noticed, then once it has been.
    await publish_fails_quickly(node)
    await wait_until(lambda: not node.connected, within=2.0)
    for _ in range(3):
        await publish_fails_quickly(node)


@connection_drops
async def test_recovers_after_rabbitmq_was_away(
    exchange: str,
    nodes: list[RabbitMQBroker],
    proxy: FaultProxy,
    broker_logs: list[logging.LogRecord],
) -> None:
    node, got = await started(nodes, proxy.url(AMQP_URL), exchange, reconnect_delay=FAST)
    other, _ = await started(nodes, AMQP_URL, exchange)
    for key in ("room.kept", "room.dropped"):
        node.bind(key)
    await node.settled()

    proxy.refuse = True  # the broker is away: nothing gets through
    proxy.cut()
    await wait_until(lambda: not node.connected, within=2.0)
    await publish_fails_quickly(node)
    # Sessions come and go while the broker is away: the reconnection catches up.
    node.bind("room.new")
    node.unbind("room.dropped")
    await other.publish("room.kept", Envelope(op="missed"))
    await asyncio.sleep(0.4)  # a few refused attempts
    assert got.resyncs == 0

    began = time.monotonic()
    proxy.refuse = False
    await got.wait_for(lambda: got.resyncs == 1, within=10.0)
    assert time.monotonic() - began < 10.0
    assert node.connected
    assert node.reconnections == 1
    await asyncio.wait_for(node.settled(), 1.0)

    for key in ("room.kept", "room.new", "room.dropped", "all"):
        await other.publish(key, Envelope(op=f"after-{key}"))
    await node.publish("room.kept", Envelope(op="own"))
    await got.wait_for(lambda: "own" in got.ops())
    assert got.ops() == ["after-room.kept", "after-room.new", "after-all", "own"], (
        "every binding is back, the one unbound while away is not, and what was "
        "published during the gap is lost (the store has it)"
    )

    messages = [r.getMessage() for r in broker_logs]
    assert any("lost the connection" in m for m in messages)
    assert any("is back" in m for m in messages)
    assert not any("guest:guest" in m for m in messages), "no password in the logs"


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
@connection_drops
async def test_recovers_when_rabbitmq_closes_the_connection(
    exchange: str, nodes: list[RabbitMQBroker]
) -> None:
    node, got = await started(nodes, AMQP_URL, exchange, reconnect_delay=FAST)
    other, _ = await started(nodes, AMQP_URL, exchange)
    node.bind("room.1")
    await node.settled()

    listing = await rabbitmqctl(
        "list_connections", "-q", "--no-table-headers", "pid", "client_properties"
    )
    pids = [line.split()[0] for line in listing.splitlines() if f'"{node.name}"' in line]
    assert len(pids) == 1, f"cannot find connection {node.name!r} in:\n{listing}"
    await rabbitmqctl("close_connection", pids[0], "closed by the recovery test")

    await got.wait_for(lambda: got.resyncs == 1, within=10.0)
    assert node.connected
    assert node.reconnections == 1
    await other.publish("room.1", Envelope(op="again"))
    await got.wait_for_op("again")


async def test_stop_is_prompt_with_binding_calls_in_flight(
    exchange: str, nodes: list[RabbitMQBroker]
) -> None:
    """A node shutting down while its sessions leave (unbinds in flight) exits at once."""
    node, _ = await started(nodes, AMQP_URL, exchange)
    for i in range(20):
        node.bind(f"room.{i}")
    await node.settled()
    for i in range(20):
        node.unbind(f"room.{i}")
    await asyncio.sleep(0)  # the first unbind is on the wire
    began = time.monotonic()
    await asyncio.wait_for(node.stop(), 5.0)
    assert time.monotonic() - began < 2.0
    assert not node.connected
    with pytest.raises(BrokerError):
        await node.publish("room.1", Envelope(op="after-stop"))
