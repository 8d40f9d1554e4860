"""One conformance suite for every Broker adapter.

Subclass :class:`BrokerConformance` in a test module and provide a
``broker_factory`` fixture: a callable that returns a new, unstarted broker for
one more node sharing the same traffic (for RabbitMQ, the same exchange). The
fixture stops every broker it made when the test ends::

    class TestMyBroker(BrokerConformance):
        @pytest.fixture
        async def broker_factory(self):
            made = []

            def make():
                made.append(MyBroker(...))
                return made[-1]

            yield make
            for broker in made:
                await broker.stop()

An adapter that lives in one process has one node only: it sets
``multi_node = False`` and the tests that need a second node are skipped, no
others. The in-process broker and the RabbitMQ adapter run these same tests.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from homer.broker.ports import Broker
from homer.errors import BrokerError
from homer.protocol.envelope import Envelope

__all__ = ["BrokerConformance", "BrokerFactory", "Recorder", "wait_until"]

#: Makes one more node's broker, unstarted, sharing traffic with the others.
BrokerFactory = Callable[[], Broker]

#: How long a test waits for something that should happen (it rarely waits long).
PATIENCE = 5.0
#: How long a test waits for something that should not happen, after a later event
#: from the same publisher did arrive.
GRACE = 0.05


async def wait_until(condition: Callable[[], bool], within: float = PATIENCE) -> None:
    """Poll ``condition`` until it holds; fail the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still not true after {within} s")
        await asyncio.sleep(0.01)


class Recorder:
    """A node's ``deliver`` and ``on_resync``: remembers what arrived, and where."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Envelope]] = []
        self.resyncs = 0
        self.threads: set[int] = set()
        self._arrived = asyncio.Event()

    def deliver(self, key: str, envelope: Envelope) -> None:
        self.threads.add(threading.get_ident())
        asyncio.get_running_loop()  # raises unless called on the event loop
        self.events.append((key, envelope))
        self._arrived.set()

    def on_resync(self) -> None:
        self.resyncs += 1
        self._arrived.set()

    def keys(self) -> list[str]:
        return [key for key, _ in self.events]

    def ops(self, key: str | None = None) -> list[str]:
        return [e.op for k, e in self.events if key is None or k == key]

    async def wait_for(self, condition: Callable[[], bool], within: float = PATIENCE) -> None:
        """Wait until ``condition`` holds after some delivery or resync."""
        async with asyncio.timeout(within):
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_for_op(self, op: str, within: float = PATIENCE) -> None:
        await self.wait_for(lambda: op in self.ops(), within)


def _rich_envelope(op: str = "msg") -> Envelope:
    return Envelope(
        op=op,
        rid="r-1",
        room="room-1",
        seq=42,
        id="m-1",
        cid="c-1",
        sender="Zoë",
        uid="u-1",
        ts=1_700_000_000.125,
        kind="msg",
        body={"text": "héllo ✓", "nested": [1, 2.5, None, True, {"k": "v"}], "big": 2**53},
    )


class BrokerConformance:
    """What every Broker adapter must do. Needs a ``broker_factory`` fixture."""

    #: False for an adapter whose nodes cannot be more than one (in one process).
    multi_node: bool = True
    #: True for an adapter that hands its one node every event, bound or not (the
    #: node keeps what its sessions need): checks that unbound keys stay away do
    #: not apply to it.
    delivers_unbound: bool = False

    # -- building blocks ----------------------------------------------------------

    def require_multi_node(self) -> None:
        if not self.multi_node:
            pytest.skip("the adapter runs in one process: there is no second node")

    def require_filtering(self) -> None:
        if self.delivers_unbound:
            pytest.skip("the adapter hands every event to its node, which filters them")

    async def node(self, broker_factory: BrokerFactory) -> tuple[Broker, Recorder]:
        broker = broker_factory()
        recorder = Recorder()
        await broker.start(recorder.deliver, recorder.on_resync)
        return broker, recorder

    async def publisher(
        self, broker_factory: BrokerFactory, receiver: Broker
    ) -> tuple[Broker, Recorder]:
        """Another node when there can be one, else the receiver itself."""
        if not self.multi_node:
            return receiver, Recorder()
        return await self.node(broker_factory)

    async def bound(self, broker: Broker, *keys: str) -> None:
        for key in keys:
            broker.bind(key)
        await asyncio.wait_for(broker.settled(), PATIENCE)

    async def not_delivered(self, recorder: Recorder, publisher: Broker, key: str) -> None:
        """Publish an event to ``key`` and check that it never reaches ``recorder``: once
        a marker published after it has arrived, it is too late."""
        if self.delivers_unbound:
            return
        op, marker = f"unwanted-{key}", f"marker-after-{key}"
        await publisher.publish(key, Envelope(op=op))
        await publisher.publish("all", Envelope(op=marker))
        await recorder.wait_for_op(marker)
        await asyncio.sleep(GRACE)
        assert op not in recorder.ops(), f"an event for {key!r} arrived though not bound"

    # -- delivery -----------------------------------------------------------------

    async def test_an_event_for_a_bound_key_arrives_unchanged(
        self, broker_factory: BrokerFactory
    ) -> None:
        node, got = await self.node(broker_factory)
        other, _ = await self.publisher(broker_factory, node)
        await self.bound(node, "room.1")
        sent = _rich_envelope()
        await other.publish("room.1", sent)
        await got.wait_for(lambda: len(got.events) >= 1)
        await asyncio.sleep(GRACE)
        assert got.events == [("room.1", sent)]
        assert got.threads == {threading.get_ident()}, "deliver runs on the event loop"

    async def test_a_node_publishes_to_itself_too(self, broker_factory: BrokerFactory) -> None:
        node, got = await self.node(broker_factory)
        await self.bound(node, "user.u-1")
        await node.publish("user.u-1", Envelope(op="unread", body={"room-1": 3}))
        await got.wait_for_op("unread")
        assert got.events == [("user.u-1", Envelope(op="unread", body={"room-1": 3}))]

    async def test_all_is_bound_from_the_start(self, broker_factory: BrokerFactory) -> None:
        node, got = await self.node(broker_factory)
        other, _ = await self.publisher(broker_factory, node)
        await other.publish("all", Envelope(op="broadcast", body={"text": "hi"}))
        await got.wait_for_op("broadcast")
        assert got.keys() == ["all"]

    async def test_an_unbound_key_does_not_arrive(self, broker_factory: BrokerFactory) -> None:
        self.require_filtering()
        node, got = await self.node(broker_factory)
        other, _ = await self.publisher(broker_factory, node)
        await self.bound(node, "room.1")
        await self.not_delivered(got, other, "room.2")
        await self.not_delivered(got, other, "user.u-2")
        await self.not_delivered(got, other, "room")
        assert got.keys() == ["all", "all", "all"], "only the markers arrived"

    async def test_events_stop_after_unbind(self, broker_factory: BrokerFactory) -> None:
        self.require_filtering()
        node, got = await self.node(broker_factory)
        other, _ = await self.publisher(broker_factory, node)
        await self.bound(node, "room.1")
        await other.publish("room.1", Envelope(op="before"))
        await got.wait_for_op("before")
        node.unbind("room.1")
        await asyncio.wait_for(node.settled(), PATIENCE)
        await self.not_delivered(got, other, "room.1")

    async def test_bind_twice_and_unbind_unbound_are_harmless(
        self, broker_factory: BrokerFactory
    ) -> None:
        node, got = await self.node(broker_factory)
        other, _ = await self.publisher(broker_factory, node)
        node.unbind("room.never")
        await self.bound(node, "room.1", "room.1")
        await other.publish("room.1", Envelope(op="once"))
        await got.wait_for_op("once")
        await self.not_delivered(got, other, "room.never")
        assert got.ops("room.1") == ["once"], "one binding, one delivery"
        # The calls apply in order: the last one wins.
        node.unbind("room.1")
        node.bind("room.1")
        node.unbind("room.1")
        node.unbind("room.1")
        await asyncio.wait_for(node.settled(), PATIENCE)
        await self.not_delivered(got, other, "room.1")
        node.bind("room.1")
        await asyncio.wait_for(node.settled(), PATIENCE)
        await other.publish("room.1", Envelope(op="back"))
        await got.wait_for_op("back")

    async def test_order_per_publisher_per_key_is_kept(self, broker_factory: BrokerFactory) -> None:
        node, got = await self.node(broker_factory)
        other, _ = await self.publisher(broker_factory, node)
        await self.bound(node, "room.a", "room.b")
        for n in range(1_000):
            key = "room.a" if n % 3 else "room.b"
            await other.publish(key, Envelope(op="msg", seq=n))
        await got.wait_for(lambda: len(got.events) >= 1_000, within=3 * PATIENCE)
        for key in ("room.a", "room.b"):
            seqs = [e.seq for k, e in got.events if k == key]
            expected = [n for n in range(1_000) if (key == "room.a") == bool(n % 3)]
            assert seqs == expected, f"{key}: out of order or incomplete"

    async def test_several_events_for_a_key_arrive_in_order_and_unchanged(
        self, broker_factory: BrokerFactory
    ) -> None:
        node, got = await self.node(broker_factory)
        other, _ = await self.publisher(broker_factory, node)
        await self.bound(node, "room.a", "room.b")
        await other.publish("room.a", Envelope(op="msg", seq=0))
        await other.publish_many("room.a", [Envelope(op="msg", seq=n) for n in range(1, 51)])
        await other.publish_many("room.b", [_rich_envelope()])
        await other.publish_many("room.a", [])
        await other.publish("room.a", Envelope(op="msg", seq=51))
        await got.wait_for(lambda: len(got.events) >= 53)
        await asyncio.sleep(GRACE)
        assert [e.seq for k, e in got.events if k == "room.a"] == list(range(52))
        assert [e for k, e in got.events if k == "room.b"] == [_rich_envelope()]

    async def test_settled_returns_at_once_when_nothing_is_pending(
        self, broker_factory: BrokerFactory
    ) -> None:
        node, _ = await self.node(broker_factory)
        await asyncio.wait_for(node.settled(), PATIENCE)
        await asyncio.wait_for(node.settled(), 0.5)

    # -- several nodes ------------------------------------------------------------

    async def test_two_nodes_bound_to_a_key_both_receive(
        self, broker_factory: BrokerFactory
    ) -> None:
        self.require_multi_node()
        first, got_first = await self.node(broker_factory)
        second, got_second = await self.node(broker_factory)
        third, got_third = await self.node(broker_factory)
        await self.bound(first, "room.1")
        await self.bound(second, "room.1")
        await third.publish("room.1", Envelope(op="to-both"))
        await got_first.wait_for_op("to-both")
        await got_second.wait_for_op("to-both")
        await third.publish("all", Envelope(op="to-all"))
        for got in (got_first, got_second, got_third):
            await got.wait_for_op("to-all")
        assert got_first.ops() == got_second.ops() == ["to-both", "to-all"]
        assert got_third.ops() == ["to-all"], "the publisher did not bind room.1"

    async def test_bind_then_publish_from_another_node(self, broker_factory: BrokerFactory) -> None:
        self.require_multi_node()
        node, got = await self.node(broker_factory)
        other, _ = await self.node(broker_factory)
        for n in range(20):
            node.bind(f"room.{n}")
        await asyncio.wait_for(node.settled(), PATIENCE)
        for n in range(20):
            await other.publish(f"room.{n}", Envelope(op=f"first-{n}"))
        await got.wait_for(lambda: len(got.events) >= 20)
        assert sorted(got.ops()) == sorted(f"first-{n}" for n in range(20))

    async def test_a_node_that_unbinds_does_not_affect_another(
        self, broker_factory: BrokerFactory
    ) -> None:
        self.require_multi_node()
        first, got_first = await self.node(broker_factory)
        second, got_second = await self.node(broker_factory)
        await self.bound(first, "room.1")
        await self.bound(second, "room.1")
        first.unbind("room.1")
        await asyncio.wait_for(first.settled(), PATIENCE)
        await second.publish("room.1", Envelope(op="still"))
        await got_second.wait_for_op("still")
        await self.not_delivered(got_first, second, "room.1")

    # -- lifecycle ----------------------------------------------------------------

    async def test_publish_before_start_raises(self, broker_factory: BrokerFactory) -> None:
        broker = broker_factory()
        with pytest.raises(BrokerError):
            await broker.publish("all", Envelope(op="early"))

    async def test_stop_is_clean(self, broker_factory: BrokerFactory) -> None:
        before = asyncio.all_tasks()
        node, got = await self.node(broker_factory)
        other, _ = await self.publisher(broker_factory, node)
        await self.bound(node, "room.1")
        await other.publish("room.1", Envelope(op="live"))
        await got.wait_for_op("live")
        await node.stop()
        await node.stop()
        with pytest.raises(BrokerError):
            await node.publish("room.1", Envelope(op="late"))
        if other is not node:
            await other.publish("room.1", Envelope(op="after-stop"))
            await other.stop()
        await asyncio.sleep(GRACE)
        assert got.ops() == ["live"], "nothing is delivered after stop"
        assert got.resyncs == 0
        leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
        assert not leftover, f"tasks left running after stop: {leftover}"
