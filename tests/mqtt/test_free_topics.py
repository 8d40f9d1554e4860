"""Free topics (``mqtt.free_topics``): plain publish/subscribe beside the chat,
allowed by prefix rules that name permissions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from homer.config import GroupSpec, HomerConfig, MqttTopicRule
from homer.protocol.mqtt import (
    V5,
    V311,
    Disconnect,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
)
from homer.testing.server import TestServer, replace_config, running_homer
from tests.mqtt.client import MqttClient
from tests.mqtt.conftest import with_mqtt

RULES = [
    {"prefix": "sensors/", "publish": "sensors.write", "subscribe": "sensors.read"},
    {"prefix": "sensors/public/", "publish": "sensors.write", "subscribe": ""},
    {"prefix": "lab/", "publish": "", "subscribe": ""},
    {"prefix": "lab/closed/"},
]


def free(config: HomerConfig) -> HomerConfig:
    config = replace_config(
        with_mqtt(config),
        identity={
            "permissions": ["sensors.read", "sensors.write"],
            "groups": {
                **config.identity.groups,
                "devices": GroupSpec(permissions=["room.post", "sensors.read", "sensors.write"]),
            },
        },
    )
    rules = [MqttTopicRule(**rule) for rule in RULES]  # type: ignore[arg-type]
    return replace_config(config, mqtt={"free_topics": True, "topics": rules})


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    async with running_homer(tmp_path, configure=free) as running:
        await running.user("device", group="devices")
        for name in ("alice", "bob"):
            await running.user(name)
        yield running


async def test_free_topics_are_plain_publish_subscribe(server: TestServer, port: int) -> None:
    device, _ = await MqttClient.connected(port, "device", version=V5)
    reader, _ = await MqttClient.connected(port, "device", version=V311)
    assert (await reader.subscribe("sensors/#", qos=1)).reasons == [1]
    await device.publish("sensors/kitchen/t", "21.5", 1, user_properties=[("unit", "C")])
    got = await reader.received()
    assert (got.topic, got.payload, got.qos) == ("sensors/kitchen/t", b"21.5", 1)
    await device.publish("sensors/kitchen/raw", b"\x00\xff", 0)  # any bytes: not chat
    assert (await reader.received()).payload == b"\x00\xff"


async def test_the_rules_decide(server: TestServer, port: int) -> None:
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    granted = await bob.subscribe(
        "sensors/kitchen/t", "sensors/public/#", "lab/+/x", "lab/closed/a", "other/x", "#"
    )
    assert granted.reasons == [0x87, 0, 0, 0x87, 0x87, 0]
    reasons = []
    for topic in ("sensors/a", "lab/a", "lab/closed/a", "other/x"):
        bob.send(Publish(topic, b"x", 1, packet_id=bob.packet_id()))
        reasons.append((await bob.answer(PubAck)).reason)
    assert reasons == [0x87, 0, 0x87, 0x87]
    got = await bob.received()  # lab/a, on "#" (and "lab/+/x" does not match it)
    assert got.topic == "lab/a"
    # What "#" may not see does not reach it: sensors/ needs sensors.read.
    device, _ = await MqttClient.connected(port, "device", version=V5)
    await device.publish("sensors/secret", "hidden", 1)
    await device.publish("sensors/public/x", "shown", 1)
    shown = await bob.received()
    assert (shown.topic, shown.payload) == ("sensors/public/x", b"shown")
    await bob.quiet()


async def test_free_topics_keep_retained_messages_and_no_history(
    server: TestServer, port: int
) -> None:
    device, _ = await MqttClient.connected(port, "device", version=V5)
    await device.publish("lab/door", "open", 1, retain=True)
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    await bob.subscribe("lab/#")
    got = await bob.received()
    assert (got.topic, got.payload, got.retain) == ("lab/door", b"open", True)
    await device.publish("lab/door", b"", 1, retain=True)
    carol, _ = await MqttClient.connected(port, "alice", version=V5)
    await carol.subscribe("lab/#")
    await carol.quiet()
    rooms = await (await server.client("alice")).request("rooms")
    assert rooms["rooms"] == []


async def test_no_local_on_a_free_topic(server: TestServer, port: int) -> None:
    device, _ = await MqttClient.connected(port, "device", version=V5, client_id="d")

    device.send(Subscribe(1, [Subscription("lab/#", 0, no_local=True)]))
    await device.answer(SubAck)
    bob, _ = await MqttClient.connected(port, "bob", version=V5)
    await device.publish("lab/x", "mine", 0)
    await bob.publish("lab/x", "theirs", 0)
    assert (await device.received()).payload == b"theirs"
    await device.quiet()


async def test_free_topics_off_are_refused(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=with_mqtt) as server:
        await server.user("bob")
        assert server.mqtt_port is not None
        bob, _ = await MqttClient.connected(server.mqtt_port, "bob", version=V5)
        assert (await bob.subscribe("lab/#")).reasons == [0x87]
        bob.send(Publish("lab/x", b"x"))
        got = await bob.closed()
        assert isinstance(got[-1], Disconnect)
        assert got[-1].reason == 0x90
