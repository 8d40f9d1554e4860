"""Retained messages, wills, topic aliases, flow control, sizes and expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path

from homer.config import HomerConfig
from homer.protocol.mqtt import (
    V5,
    V311,
    Disconnect,
    Properties,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
    Will,
)
from homer.testing.server import TestServer, replace_config, running_homer
from tests.mqtt.client import MqttClient
from tests.mqtt.conftest import with_mqtt


async def room(server: TestServer, name: str = "lobby") -> None:
    alice = await server.client("alice")
    await alice.create(name)
    for user in ("bob", "carol"):
        member = await server.client(user)
        await member.join(name)


# -- retained -------------------------------------------------------------------------


async def test_a_retained_message_greets_new_subscribers(server: TestServer, port: int) -> None:
    await room(server)
    bob, _ = await MqttClient.connected(port, "bob", version=V311)
    await bob.publish("rooms/lobby", "door: closed", 1, retain=True)
    carol, _ = await MqttClient.connected(port, "carol", version=V5)
    await carol.subscribe("rooms/+", qos=1)
    got = await carol.received()
    assert (got.topic, got.payload, got.retain, got.qos) == (
        "rooms/lobby",
        b"door: closed",
        True,
        1,
    )
    # Live, the flag is set only for retain as published.
    await bob.publish("rooms/lobby", "door: open", 1, retain=True)
    live = await carol.received()
    assert (live.payload, live.retain) == (b"door: open", False)
    # An empty retained publish clears it, and stores nothing.
    await bob.publish("rooms/lobby", b"", 1, retain=True)
    dave, _ = await MqttClient.connected(port, "alice", version=V5)
    await dave.subscribe("rooms/lobby")
    await dave.quiet()
    history = await (await server.client("alice")).history("lobby")
    assert [e.body["text"] for e in history if e.kind == "msg"] == ["door: closed", "door: open"]


async def test_retain_handling_and_retain_as_published(server: TestServer, port: int) -> None:
    await room(server)
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    await bob.publish("rooms/lobby", "state", 0, retain=True)
    carol, _ = await MqttClient.connected(port, "carol", version=V5)

    async def subscribe(option: Subscription) -> None:
        carol.send(Subscribe(carol.packet_id(), [option]))
        await carol.answer(SubAck)

    await subscribe(Subscription("rooms/lobby", 0, retain_handling=2))
    await carol.quiet()
    await subscribe(Subscription("rooms/lobby", 0, retain_handling=1))  # not new: nothing
    await carol.quiet()
    await subscribe(Subscription("rooms/+", 0, retain_handling=1))  # new: the message
    assert (await carol.received()).payload == b"state"
    await subscribe(Subscription("rooms/lobby/#", 0, retain_as_published=True))
    assert (await carol.received()).retain
    await bob.publish("rooms/lobby", "state 2", 0, retain=True)
    # One copy on the text topic for the three filters (retain as published is one
    # of them), one on the events topic, which is never retained.
    got = {packet.topic: packet.retain for packet in [await carol.received() for _ in range(2)]}
    assert got == {"rooms/lobby": True, "rooms/lobby/events": False}
    await carol.quiet()


async def test_retained_messages_of_rooms_one_is_not_in_stay_hidden(
    server: TestServer, port: int
) -> None:
    alice = await server.client("alice")
    await alice.create("secret", kind="private")
    writer, _ = await MqttClient.connected(port, "alice", version=V5)
    await writer.publish("rooms/secret", "hidden", 1, retain=True)
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    assert (await bob.subscribe("#")).reasons == [0]
    await bob.quiet()


# -- wills ----------------------------------------------------------------------------


async def test_a_will_is_published_when_the_connection_breaks(
    server: TestServer, port: int
) -> None:
    await room(server)
    alice = await server.client("alice")
    will = Will("rooms/lobby", b"sensor 7 went away", 1)
    bob, _ = await MqttClient.connected(port, "bob", version=V311, will=will)
    bob.writer.transport.abort()  # no DISCONNECT
    event = await alice.next_event("msg")
    while event.kind != "msg":
        event = await alice.next_event("msg")
    assert (event.sender, event.body["text"]) == ("bob", "sensor 7 went away")


async def test_a_disconnect_drops_the_will_unless_it_asks(server: TestServer, port: int) -> None:
    await room(server)
    carol, _ = await MqttClient.connected(port, "carol", version=V5)
    await carol.subscribe("rooms/lobby")
    for reason, published in ((0x00, False), (0x04, True)):
        will = Will("rooms/lobby", f"will {reason}".encode())
        bob, _ = await MqttClient.connected(port, "bob", version=V5, will=will)
        bob.send(Disconnect(reason))
        await bob.closed()
        if published:
            assert (await carol.received()).payload == b"will 4"
        else:
            await carol.quiet()


async def test_a_delayed_will_waits_and_a_reconnection_cancels_it(
    server: TestServer, port: int
) -> None:
    await room(server)
    carol, _ = await MqttClient.connected(port, "carol", version=V5)
    await carol.subscribe("rooms/lobby")
    keep = Properties(session_expiry=60)
    will = Will("rooms/lobby", b"gone for good", properties=Properties(will_delay=1))
    bob, _ = await MqttClient.connected(
        port, "bob", client_id="w", clean=False, properties=keep, will=will
    )
    bob.writer.transport.abort()
    await asyncio.sleep(0.2)
    bob, _ = await MqttClient.connected(port, "bob", client_id="w", clean=False, properties=keep)
    await carol.quiet(1.5)
    bob.writer.transport.abort()  # no will any more: the reconnection gave none
    will = Will("rooms/lobby", b"gone at last", properties=Properties(will_delay=1))
    bob, _ = await MqttClient.connected(
        port, "bob", client_id="w", clean=False, properties=keep, will=will
    )
    bob.writer.transport.abort()
    await carol.quiet(0.5)
    assert (await carol.received(wait=5)).payload == b"gone at last"


# -- topic aliases, flow control, sizes, expiry ---------------------------------------------


async def test_topic_aliases_both_ways(server: TestServer, port: int) -> None:
    await room(server)
    bob, _ = await MqttClient.connected(
        port, "bob", version=V5, properties=Properties(topic_alias_maximum=5)
    )
    await bob.subscribe("rooms/lobby")
    bob.send(Publish("rooms/lobby", b"first", properties=Properties(topic_alias=1)))
    bob.send(Publish("", b"second", properties=Properties(topic_alias=1)))
    first, second = await bob.received(), await bob.received()
    assert (first.topic, first.properties.topic_alias, first.payload) == (
        "rooms/lobby",
        1,
        b"first",
    )
    assert (second.topic, second.properties.topic_alias, second.payload) == ("", 1, b"second")
    bob.send(Publish("", b"third", properties=Properties(topic_alias=2)))
    got = await bob.closed()
    assert isinstance(got[-1], Disconnect)
    assert got[-1].reason == 0x82
    carol, _ = await MqttClient.connected(port, "carol", version=V5)
    carol.send(Publish("rooms/lobby", b"x", properties=Properties(topic_alias=11)))
    got = await carol.closed()
    assert isinstance(got[-1], Disconnect)
    assert got[-1].reason == 0x94


async def test_the_client_receive_maximum_is_kept(server: TestServer, port: int) -> None:
    await room(server)
    alice = await server.client("alice")
    bob, _ = await MqttClient.connected(
        port, "bob", version=V5, properties=Properties(receive_maximum=2)
    )
    await bob.subscribe("rooms/lobby", qos=1)
    for n in range(5):
        await alice.send("lobby", f"m{n}")
    first = [await bob.expect(Publish) for _ in range(2)]
    await bob.quiet()  # the window is full
    for packet in first:
        bob.send(PubAck(packet.packet_id or 0))
    rest = [await bob.received() for _ in range(3)]
    assert [p.payload for p in first + rest] == [f"m{n}".encode() for n in range(5)]


async def test_a_client_that_never_acknowledges_is_too_slow(tmp_path: Path) -> None:
    def small(config: HomerConfig) -> HomerConfig:
        return replace_config(with_mqtt(config), mqtt={"max_inflight": 2, "max_queued": 3})

    async with running_homer(tmp_path, configure=small) as server:
        for name in ("alice", "bob"):
            await server.user(name)
        assert server.mqtt_port is not None
        alice = await server.client("alice")
        await alice.create("lobby")
        bob, _ = await MqttClient.connected(server.mqtt_port, "bob", version=V5)
        await bob.subscribe("rooms/lobby", qos=1)
        for n in range(6):
            await alice.send("lobby", f"m{n}")
        got = await bob.closed()
        assert isinstance(got[-1], Disconnect)
        assert got[-1].reason == 0x97


async def test_a_message_larger_than_the_client_takes_is_not_sent(
    server: TestServer, port: int
) -> None:
    await room(server)
    alice = await server.client("alice")
    bob, _ = await MqttClient.connected(
        port, "bob", version=V5, properties=Properties(maximum_packet_size=200)
    )
    await bob.subscribe("rooms/lobby")
    await alice.send("lobby", "x" * 500)
    await alice.send("lobby", "small")
    assert (await bob.received()).payload == b"small"


async def test_a_packet_over_the_maximum_is_refused(tmp_path: Path) -> None:
    def small(config: HomerConfig) -> HomerConfig:
        return replace_config(with_mqtt(config), mqtt={"max_packet_size": 1000})

    async with running_homer(tmp_path, configure=small) as server:
        await server.user("bob")
        assert server.mqtt_port is not None
        bob, _ = await MqttClient.connected(server.mqtt_port, "bob", version=V5)
        bob.send(Publish("rooms/lobby", b"x" * 2000))
        got = await bob.closed()
        assert isinstance(got[-1], Disconnect)
        assert got[-1].reason == 0x95


async def test_an_expired_message_is_not_delivered_late(server: TestServer, port: int) -> None:
    await room(server)
    keep = Properties(session_expiry=60)
    carol, _ = await MqttClient.connected(
        port, "carol", client_id="c", clean=False, properties=keep
    )
    await carol.subscribe("rooms/lobby", qos=1)
    await carol.close()
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    await bob.publish("rooms/lobby", "short-lived", 1, message_expiry=1)
    await bob.publish("rooms/lobby", "long-lived", 1, message_expiry=600)
    await asyncio.sleep(1.2)
    carol, _ = await MqttClient.connected(
        port, "carol", client_id="c", clean=False, properties=keep
    )
    got = await carol.received()
    assert got.payload == b"long-lived"
    assert got.properties.message_expiry is not None
    assert got.properties.message_expiry <= 599
    await carol.quiet()


async def test_a_node_shutting_down_publishes_no_will(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=with_mqtt) as server:
        for name in ("alice", "bob"):
            await server.user(name)
        alice = await server.client("alice")
        await alice.create("lobby")
        assert server.mqtt_port is not None
        will = Will("rooms/lobby", b"bob's sensor went away")
        bob, _ = await MqttClient.connected(server.mqtt_port, "bob", version=V5, will=will)
        await bob.publish("rooms/lobby", "still here", 1)
    got = await bob.closed()
    assert isinstance(got[-1], Disconnect)
    assert got[-1].reason == 0x8B  # server shutting down
    async with running_homer(tmp_path, configure=with_mqtt) as server:
        alice = await server.client("alice")
        texts = [e.body["text"] for e in await alice.history("lobby") if e.kind == "msg"]
        assert texts == ["still here"]


async def test_a_session_taken_over_publishes_no_will(server: TestServer, port: int) -> None:
    await room(server)
    carol, _ = await MqttClient.connected(port, "carol", version=V5)
    await carol.subscribe("rooms/lobby")
    will = Will("rooms/lobby", b"first connection gone")
    await MqttClient.connected(port, "bob", version=V5, client_id="t", will=will)
    await MqttClient.connected(port, "bob", version=V5, client_id="t")
    await carol.quiet(0.5)


async def test_a_retained_message_with_an_expiry_is_dropped_when_it_expires(
    server: TestServer, port: int
) -> None:
    await room(server)
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    await bob.publish("rooms/lobby", "brief", 1, retain=True, message_expiry=1)
    await asyncio.sleep(1.2)
    carol, _ = await MqttClient.connected(port, "carol", version=V5)
    await carol.subscribe("rooms/lobby")
    await carol.quiet()
