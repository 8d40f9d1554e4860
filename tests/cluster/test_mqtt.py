"""MQTT on two ``homer serve`` processes sharing PostgreSQL and RabbitMQ: an MQTT
client on one node and a WebSocket client on the other talk in one room; a
persistent session moves to the other node and gets what it missed there; free
topics and retained messages cross between the nodes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homer.protocol.mqtt import V5, V311, Disconnect, PingReq, PingResp
from tests.cluster.nodes import PASSWORD, cluster
from tests.cluster.test_rich import heard
from tests.mqtt.client import MqttClient
from tests.services import AMQP

pytestmark = pytest.mark.timeout(120)

FREE = """
[mqtt]
free_topics = true
topics = [{prefix = "lab/", publish = "", subscribe = ""}]
"""


async def test_mqtt_and_websocket_across_nodes(
    tmp_path: Path, store_url: str, exchange: str
) -> None:
    config = tmp_path / "homer.toml"
    config.write_text(FREE)
    async with cluster(tmp_path, store_url, AMQP, exchange, 2, HOMER_CONFIG=str(config)) as nodes:
        first, second = nodes.nodes
        ann = await nodes.user("ann", second.url)
        dev = await nodes.user("dev", first.url)
        try:
            await ann.create("town")
            await dev.join("town")
            await heard(ann, dev, "town")  # the first node follows the room
            mqtt, _ = await MqttClient.connected(
                first.mqtt_port,
                "dev",
                version=V311,
                client_id="d",
                clean=False,
                password=PASSWORD,
            )
            await mqtt.subscribe("rooms/town", "lab/#", qos=1)
            for n in range(3):
                await ann.send("town", f"from the web {n}")
            got = [(await mqtt.received()).payload for _ in range(3)]
            assert got == [f"from the web {n}".encode() for n in range(3)]
            await mqtt.publish("rooms/town", "from a device", 1)
            async with asyncio.timeout(30):
                while True:
                    event = await ann.events.get()
                    if event.op == "msg" and event.kind == "msg" and event.sender == "dev":
                        break
            assert event.body["text"] == "from a device"
            assert (await mqtt.received()).payload == b"from a device"  # its own, back
            mqtt.send(PingReq())
            await mqtt.expect(PingResp)
            await mqtt.close()

            # Away: the session moves to the other node and gets what it missed there.
            for n in range(3):
                await ann.send("town", f"while away {n}")
            again, ack = await MqttClient.connected(
                second.mqtt_port,
                "dev",
                version=V311,
                client_id="d",
                clean=False,
                password=PASSWORD,
            )
            assert ack.session_present
            got = [(await again.received()).payload for _ in range(3)]
            assert got == [f"while away {n}".encode() for n in range(3)]

            # Free topics and retained messages cross between the nodes.
            publisher, _ = await MqttClient.connected(
                first.mqtt_port, "ann", version=V5, password=PASSWORD
            )
            await publisher.publish("lab/door", "open", 1, retain=True)
            got_free = await again.received()
            assert (got_free.topic, got_free.payload) == ("lab/door", b"open")
            late, _ = await MqttClient.connected(
                second.mqtt_port, "ann", version=V5, password=PASSWORD
            )
            await late.subscribe("lab/#")
            kept = await late.received()
            assert (kept.payload, kept.retain) == (b"open", True)
            for client in (again, publisher, late):
                await client.close()

            # A session taken up on the other node is closed on the first.
            here, _ = await MqttClient.connected(
                first.mqtt_port, "dev", version=V5, client_id="t", password=PASSWORD
            )
            there, _ = await MqttClient.connected(
                second.mqtt_port, "dev", version=V5, client_id="t", password=PASSWORD
            )
            got = await here.closed()
            assert isinstance(got[-1], Disconnect)
            assert got[-1].reason == 0x8E
            there.send(PingReq())
            await there.expect(PingResp)
            await there.close()
        finally:
            await ann.close()
            await dev.close()
