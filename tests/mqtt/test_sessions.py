"""Persistent sessions: what a client missed comes from the store, in order, once;
what was in flight goes again; a restart of the server loses none of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from homer.config import HomerConfig
from homer.protocol.mqtt import (
    V5,
    V311,
    PingReq,
    PingResp,
    Properties,
    PubComp,
    Publish,
    PubRec,
    PubRel,
)
from homer.testing.server import TestServer, replace_config, running_homer
from tests.mqtt.client import MqttClient
from tests.mqtt.conftest import with_mqtt


def persistent(version: int) -> dict[str, object]:
    if version == V5:
        return {"clean": False, "properties": Properties(session_expiry=3600)}
    return {"clean": False}


@pytest.mark.parametrize("version", [V311, V5])
async def test_a_reconnection_gets_what_it_missed(
    server: TestServer, port: int, version: int
) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, ack = await MqttClient.connected(
        port, "bob", version=version, client_id="d", **persistent(version)
    )  # type: ignore[arg-type]
    assert not ack.session_present
    await bob.subscribe("rooms/lobby", qos=1)
    await alice.send("lobby", "before")
    assert (await bob.received()).payload == b"before"
    bob.send(PingReq())  # the PUBACK is in before the connection goes
    await bob.expect(PingResp)
    await bob.close()
    for n in range(3):
        await alice.send("lobby", f"missed {n}")
    bob, ack = await MqttClient.connected(
        port, "bob", version=version, client_id="d", **persistent(version)
    )  # type: ignore[arg-type]
    assert ack.session_present
    got = [await bob.received() for _ in range(3)]
    assert [p.payload for p in got] == [b"missed 0", b"missed 1", b"missed 2"]
    assert all(p.qos == 1 and not p.dup for p in got)
    await alice.send("lobby", "live")
    assert (await bob.received()).payload == b"live"
    await bob.quiet()


async def test_a_clean_start_drops_the_session(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", client_id="d", **persistent(V5))  # type: ignore[arg-type]
    await bob.subscribe("rooms/lobby", qos=1)
    await bob.close()
    await alice.send("lobby", "missed")
    bob, ack = await MqttClient.connected(port, "bob", client_id="d")
    assert not ack.session_present
    await bob.quiet()
    await bob.close()
    bob, ack = await MqttClient.connected(port, "bob", client_id="d", **persistent(V5))  # type: ignore[arg-type]
    assert not ack.session_present


async def test_a_session_that_ends_with_its_connection(server: TestServer, port: int) -> None:
    bob, _ = await MqttClient.connected(
        port, "bob", client_id="d", clean=False
    )  # MQTT 5, no expiry
    await bob.subscribe("rooms/+")
    await bob.close()
    bob, ack = await MqttClient.connected(port, "bob", client_id="d", clean=False)
    assert not ack.session_present


async def test_unacknowledged_deliveries_go_again_with_dup(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", client_id="d", **persistent(V5))  # type: ignore[arg-type]
    await bob.subscribe("rooms/lobby", qos=2)
    await alice.send("lobby", "unacked")
    first = await bob.expect(Publish)  # neither PUBREC nor anything
    await bob.close()
    await alice.send("lobby", "after")
    bob, ack = await MqttClient.connected(port, "bob", client_id="d", **persistent(V5))  # type: ignore[arg-type]
    assert ack.session_present
    again = await bob.received()
    assert (again.payload, again.packet_id, again.dup) == (b"unacked", first.packet_id, True)
    assert (await bob.received()).payload == b"after"
    await bob.quiet()


async def test_a_session_survives_a_restart_of_the_server(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=with_mqtt) as server:
        for name in ("alice", "bob"):
            await server.user(name)
        port = server.mqtt_port
        assert port is not None
        alice = await server.client("alice")
        await alice.create("lobby")
        bob, _ = await MqttClient.connected(port, "bob", version=V311, client_id="d", clean=False)
        await bob.subscribe("rooms/lobby", qos=1)
        await alice.send("lobby", "one")
        assert (await bob.received()).payload == b"one"
        bob.send(PingReq())
        await bob.expect(PingResp)
        await alice.send("lobby", "two")  # sent while the server stops: unacknowledged
        await bob.expect(Publish)
    await bob.closed()

    async with running_homer(tmp_path, configure=lambda c: _same_ports(c, port)) as server:
        alice = await server.client("alice")
        await alice.send("lobby", "three")
        bob, ack = await MqttClient.connected(port, "bob", version=V311, client_id="d", clean=False)
        assert ack.session_present
        two = await bob.received()
        assert (two.payload, two.dup) == (b"two", True)
        assert (await bob.received()).payload == b"three"
        await bob.quiet()
        await bob.close()


def _same_ports(config: HomerConfig, mqtt: int) -> HomerConfig:
    return replace_config(with_mqtt(config), server={"mqtt_port": mqtt})


async def test_qos2_publish_awaiting_pubrel_survives_a_reconnection(
    server: TestServer, port: int
) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    bob, _ = await MqttClient.connected(port, "bob", client_id="d", **persistent(V5))  # type: ignore[arg-type]
    bob.send(Publish("rooms/lobby", b"exactly once", 2, packet_id=9))
    await bob.answer(PubRec)
    await bob.close()
    bob, _ = await MqttClient.connected(port, "bob", client_id="d", **persistent(V5))  # type: ignore[arg-type]
    bob.send(Publish("rooms/lobby", b"exactly once", 2, dup=True, packet_id=9))
    await bob.answer(PubRec)
    bob.send(PubRel(9))
    assert (await bob.answer(PubComp)).reason == 0
    texts = [e.body.get("text") for e in await alice.history("lobby") if e.kind == "msg"]
    assert texts == ["exactly once"]


async def test_a_session_taken_up_with_expiry_zero_ends_with_that_connection(
    server: TestServer, port: int
) -> None:
    bob, _ = await MqttClient.connected(port, "bob", client_id="d", **persistent(V5))  # type: ignore[arg-type]
    await bob.subscribe("rooms/+")
    await bob.close()
    bob, ack = await MqttClient.connected(port, "bob", client_id="d", clean=False)  # expiry 0
    assert ack.session_present
    await bob.close()
    bob, ack = await MqttClient.connected(port, "bob", client_id="d", clean=False)
    assert not ack.session_present
