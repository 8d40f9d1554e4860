"""Subscribing: filters as rooms, refusals, options, identifiers, shared groups."""

from __future__ import annotations

import json

from homer.protocol.mqtt import (
    V5,
    V311,
    Properties,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
)
from homer.testing.server import TestServer
from tests.mqtt.client import MqttClient


async def test_a_subscription_gets_the_room_as_text_and_events(
    server: TestServer, port: int
) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", version=V311)
    granted = await bob.subscribe("rooms/lobby", "rooms/lobby/events")
    assert granted.reasons == [0, 0]
    carol = await server.client("carol")
    await carol.join("lobby")
    join = await bob.received()
    assert join.topic == "rooms/lobby/events"
    assert json.loads(join.payload)["kind"] == "join"
    assert json.loads(join.payload)["sender"] == "carol"
    await alice.send("lobby", "hello devices")
    first, second = await bob.received(), await bob.received()
    by_topic = {first.topic: first, second.topic: second}
    assert by_topic["rooms/lobby"].payload == b"hello devices"
    envelope = json.loads(by_topic["rooms/lobby/events"].payload)
    assert envelope["sender"] == "alice"
    assert envelope["body"] == {"text": "hello devices"}
    # An edit and a reaction are events, not text.
    seq = envelope["seq"]
    await alice.request("edit", room="lobby", seq=seq, text="hello, devices")
    edit = await bob.received()
    assert edit.topic == "rooms/lobby/events"
    assert json.loads(edit.payload)["kind"] == "edit"
    await bob.quiet()


async def test_rooms_plus_is_every_room_of_the_user(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    bob_ws = await server.client("bob")
    await alice.create("one")
    await alice.create("two")
    await alice.create("three")
    await bob_ws.join("one")
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    await bob.subscribe("rooms/+")
    await alice.send("two", "not for bob: he is not in two")
    await alice.send("one", "in one")
    got = await bob.received()
    assert (got.topic, got.payload) == ("rooms/one", b"in one")
    await bob_ws.join("three")  # joined elsewhere, later: under rooms/+ too
    ack = await alice.send("three", "in three")
    got = await bob.received()
    assert (got.topic, got.payload) == ("rooms/three", b"in three")
    # Events other than messages have no text: nothing on a text topic.
    await alice.request("edit", room="three", seq=ack["seq"], text="in three, edited")
    await alice.request("react", room="three", seq=ack["seq"], key=":thumbsup:")
    await alice.send("three", "and again")
    got = await bob.received()
    assert (got.topic, got.payload) == ("rooms/three", b"and again")
    await bob.quiet()


async def test_unsubscribing_stops_delivery_not_membership(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    await bob.subscribe("rooms/lobby")
    pid = bob.packet_id()
    bob.send(Unsubscribe(pid, ["rooms/lobby", "rooms/never"]))
    ack = await bob.answer(UnsubAck)
    assert ack.reasons == [0x00, 0x11]
    await alice.send("lobby", "unheard")
    await bob.quiet()
    members = await alice.request("members", room="lobby")
    assert "bob" in {m["name"] for m in members["members"]}


async def test_refused_filters(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("secret", kind="private")
    five, _ = await MqttClient.connected(port, "bob", version=V5)
    granted = await five.subscribe(
        "rooms/secret", "rooms/nowhere", "users/alice", "rooms/x/y", "$SYS/#", "sensors/#", "#"
    )
    assert granted.reasons == [0x87, 0x87, 0x87, 0x8F, 0x80, 0x87, 0]
    three, _ = await MqttClient.connected(port, "bob", version=V311)
    granted = await three.subscribe("rooms/secret", "rooms/+")
    assert granted.reasons == [0x80, 0]


async def test_the_qos_is_the_lower_of_the_two(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    carol, _ = await MqttClient.connected(port, "carol", version=V5)
    await carol.subscribe("rooms/lobby", qos=2)
    await bob.publish("rooms/lobby", "at one", 1)
    assert (await carol.received()).qos == 1
    await alice.send("lobby", "from the web")  # another protocol: as QoS 2
    assert (await carol.received()).qos == 2


async def test_no_local_and_overlapping_subscriptions(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", version=V5, client_id="bob-1")
    pid = bob.packet_id()
    bob.send(
        Subscribe(
            pid,
            [
                Subscription("rooms/lobby", 1, no_local=True),
                Subscription("rooms/+", 0, no_local=True),
            ],
            Properties(subscription_ids=[7]),
        )
    )
    await bob.answer(SubAck)
    await bob.publish("rooms/lobby", "mine", 1)
    await alice.send("lobby", "theirs")
    got = await bob.received()
    assert got.payload == b"theirs"
    assert got.qos == 1  # one copy, at the higher QoS
    assert got.properties.subscription_ids == [7]
    await bob.quiet()


async def test_a_shared_subscription_gives_each_message_to_one_member(
    server: TestServer, port: int
) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    workers = []
    for n in range(3):
        worker, _ = await MqttClient.connected(port, "bob", version=V5, client_id=f"w{n}")
        await worker.subscribe("$share/pool/rooms/lobby", qos=1)
        workers.append(worker)
    for n in range(12):
        await alice.send("lobby", f"job {n}")
    seen: list[bytes] = []
    for worker in workers:
        while True:
            try:
                seen.append((await worker.received(wait=0.5)).payload)
            except TimeoutError:
                break
    assert sorted(seen) == sorted(f"job {n}".encode() for n in range(12))
    assert all(seen.count(payload) == 1 for payload in seen)
