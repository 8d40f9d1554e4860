"""Publishing: into rooms and DMs, acknowledged once stored; every refusal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homer.config import HomerConfig
from homer.protocol.mqtt import V5, V311, Disconnect, PubAck, Publish, PubRec, encode
from homer.testing.server import TestServer, replace_config, running_homer
from tests.mqtt.client import MqttClient
from tests.mqtt.conftest import with_mqtt


@pytest.mark.parametrize("version", [V311, V5])
@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_a_publish_is_a_message_in_the_room(
    server: TestServer, port: int, version: int, qos: int
) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", version=version)
    answer = await bob.publish("rooms/lobby", "héllo from a device", qos)
    if qos:
        assert answer is not None
        assert answer.reason == 0
        # Acknowledged once stored: the history has it already.
        stored = await alice.history("lobby")
        assert stored[-1].body["text"] == "héllo from a device"
    event = await alice.next_event("msg")
    while event.kind != "msg":
        event = await alice.next_event("msg")
    assert event.sender == "bob"
    assert event.body["text"] == "héllo from a device"
    if qos < 2:
        assert event.body["data"] == {"mqtt": {"qos": qos}}
    else:
        assert "data" not in event.body


async def test_a_qos2_publish_sent_again_before_pubrel_is_stored_once(
    server: TestServer, port: int
) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    bob.send(Publish("rooms/lobby", b"once", 2, packet_id=7))
    await bob.answer(PubRec)
    bob.send(Publish("rooms/lobby", b"once", 2, dup=True, packet_id=7))
    await bob.answer(PubRec)
    from homer.protocol.mqtt import PubComp, PubRel

    bob.send(PubRel(7))
    await bob.answer(PubComp)
    texts = [e.body.get("text") for e in await alice.history("lobby") if e.kind == "msg"]
    assert texts == ["once"]


async def test_properties_are_carried_through(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    carol, _ = await MqttClient.connected(port, "carol", version=V5)
    await carol.subscribe("rooms/lobby", qos=1)
    await bob.publish(
        "rooms/lobby",
        "21.5",
        1,
        content_type="text/plain; unit=celsius",
        response_topic="users/bob",
        correlation_data=b"\x00\x01",
        user_properties=[("sensor", "t1"), ("sensor", "t2")],
        message_expiry=3600,
    )
    got = await carol.received()
    assert got.payload == b"21.5"
    props = got.properties
    assert props.payload_format == 1
    assert props.content_type == "text/plain; unit=celsius"
    assert props.response_topic == "users/bob"
    assert props.correlation_data == b"\x00\x01"
    assert props.user_properties[:2] == [("sender", "bob"), ("seq", "3")]  # after the join
    assert props.user_properties[2:] == [("sensor", "t1"), ("sensor", "t2")]
    assert props.message_expiry is not None
    assert 3590 <= props.message_expiry <= 3600
    event = await alice.next_event("msg")
    while event.kind != "msg":
        event = await alice.next_event("msg")
    mqtt = event.body["data"]["mqtt"]
    assert mqtt["qos"] == 1
    assert mqtt["content_type"] == "text/plain; unit=celsius"
    assert mqtt["correlation"] == "AAE="
    assert mqtt["user"] == [["sensor", "t1"], ["sensor", "t2"]]


async def test_a_dm_both_ways(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    granted = await bob.subscribe("users/bob", "users/alice")
    assert granted.reasons == [0, 0x87]
    await bob.publish("users/alice", "psst", 1)
    event = await alice.next_event("msg")
    while event.kind != "msg":
        event = await alice.next_event("msg")
    assert event.body["text"] == "psst"
    assert event.sender == "bob"
    got_room = event.room
    await alice.send(event.room, "hi back")
    mine = await bob.received()  # the DM bob sent, on his own topic
    assert (mine.topic, mine.payload) == ("users/bob", b"psst")
    got = await bob.received()
    assert (got.topic, got.payload) == ("users/bob", b"hi back")
    assert ("sender", "alice") in got.properties.user_properties
    await bob.publish("users/ALICE", "again", 1)  # the same DM, whatever the case
    event = await alice.next_event("msg")
    while event.kind != "msg" or event.sender != "bob":
        event = await alice.next_event("msg")
    assert event.body["text"] == "again"
    assert event.room == got_room


async def test_publishing_into_a_public_room_joins_it(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    await bob.publish("rooms/lobby", "new here", 1)
    members = await alice.request("members", room="lobby")
    assert {m["name"] for m in members["members"]} == {"alice", "bob"}


async def refusal(port: int, topic: str, payload: bytes = b"x") -> tuple[int, str | None]:
    client, _ = await MqttClient.connected(port, "bob", version=V5)
    client.send(Publish(topic, payload, 1, packet_id=1))
    ack = await client.answer(PubAck)
    await client.close()
    return ack.reason, ack.properties.reason_string


async def test_refusals_have_their_reason_codes(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("secret", kind="private")
    await alice.create("news", kind="announce")
    assert (await refusal(port, "rooms/secret"))[0] == 0x87
    assert (await refusal(port, "rooms/nowhere"))[0] == 0x87
    assert (await refusal(port, "users/nobody"))[0] == 0x87
    assert (await refusal(port, "rooms/news"))[0] == 0x87
    assert (await refusal(port, "rooms/lobby2", b"\xff\xfe"))[0] == 0x99
    reason, why = await refusal(port, "rooms/secret/events")
    assert reason == 0x90
    assert why == "rooms/secret/events is read-only: publish to rooms/secret"
    assert (await refusal(port, "$SYS/x"))[0] == 0x90
    reason, why = await refusal(port, "sensors/t1")
    assert reason == 0x90
    assert why == "topics outside rooms/ and users/ are off on this server"
    await alice.create("lobby")
    reason, why = await refusal(port, "rooms/lobby", b"x" * 8001)
    assert reason == 0x95
    assert why == "text is longer than 8000 characters"
    texts = [e.body.get("text") for e in await alice.history("lobby") if e.kind == "msg"]
    assert texts == []


async def test_a_refusal_without_an_answer_closes(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("secret", kind="private")
    five, _ = await MqttClient.connected(port, "bob", version=V5)
    five.send(Publish("rooms/secret", b"x"))  # QoS 0: nothing to answer with
    got = await five.closed()
    assert [type(p) for p in got] == [Disconnect]
    assert got[0].reason == 0x87  # type: ignore[union-attr]
    three, _ = await MqttClient.connected(port, "bob", version=V311)
    three.send(Publish("rooms/secret", b"x", 1, packet_id=1))  # 3.1.1: no refusal in PUBACK
    assert await three.closed() == []


async def test_the_rate_limit_is_quota_exceeded(tmp_path: Path) -> None:
    def slow(config: object) -> object:
        return replace_config(with_mqtt(config), limits={"rate": 1.0, "burst": 2})  # type: ignore[arg-type]

    async with running_homer(tmp_path, configure=slow) as server:  # type: ignore[arg-type]
        await server.user("bob")
        assert server.mqtt_port is not None
        bob, _ = await MqttClient.connected(server.mqtt_port, "bob", version=V5)
        reasons = []
        for n in range(4):
            bob.send(Publish("rooms/r", b"x", 1, packet_id=n + 1))
            reasons.append((await bob.answer(PubAck)).reason)
        assert 0x97 in reasons
        await bob.close()


async def test_more_unanswered_publishes_than_the_receive_maximum_disconnect(
    tmp_path: Path,
) -> None:
    def small(config: HomerConfig) -> HomerConfig:
        return replace_config(with_mqtt(config), mqtt={"receive_maximum": 2})

    async with running_homer(tmp_path, configure=small) as server:
        await server.user("bob")
        assert server.mqtt_port is not None
        bob, ack = await MqttClient.connected(server.mqtt_port, "bob", version=V5)
        assert ack.properties.receive_maximum == 2
        # Three QoS 1 publishes in one write, none answered yet: one too many.
        bob.writer.write(
            b"".join(encode(Publish("rooms/r", b"x", 1, packet_id=pid), V5) for pid in (1, 2, 3))
        )
        got = await bob.closed()
        assert isinstance(got[-1], Disconnect)
        assert got[-1].reason == 0x93


async def test_a_burst_keeps_its_order_while_commits_overlap(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    pauses = iter([0.02, 0.0, 0.01, 0.0, 0.03] * 10)

    async def uneven(draft: object) -> None:
        await asyncio.sleep(next(pauses, 0.0))  # checks that take their time, unevenly

    server.app.before_send(uneven)
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    await bob.publish("rooms/lobby", "first", 1)  # joins the room
    burst = [Publish("rooms/lobby", f"m{n}".encode(), n % 2, packet_id=n + 1) for n in range(30)]
    bob.writer.write(b"".join(encode(packet, V5) for packet in burst))
    acks = [await bob.answer(PubAck) for _ in range(15)]
    assert [ack.packet_id for ack in acks] == [n + 1 for n in range(30) if n % 2]
    texts = [e.body["text"] for e in await alice.history("lobby", limit=100) if e.kind == "msg"]
    assert texts == ["first"] + [f"m{n}" for n in range(30)]
