"""Connecting: who may, what the CONNACK says, keep-alive, takeover."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homer.config import HomerConfig
from homer.protocol.mqtt import (
    V5,
    V311,
    ConnAck,
    Connect,
    Disconnect,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    Publish,
    Will,
)
from homer.testing.server import PASSWORD, TestServer, replace_config, running_homer
from tests.mqtt.client import MqttClient
from tests.mqtt.conftest import with_mqtt


@pytest.mark.parametrize("version", [V311, V5])
async def test_a_password_connects(server: TestServer, port: int, version: int) -> None:
    client, ack = await MqttClient.connected(port, "bob", version=version, client_id="dev1")
    assert ack.reason == 0
    assert not ack.session_present
    client.send(PingReq())
    await client.expect(PingResp)
    await client.close()


async def test_a_token_connects_whatever_the_user_name(server: TestServer, port: int) -> None:
    token = await server.token("bob")
    client, ack = await MqttClient.connected(port, "", password=token, client_id="t")
    assert ack.reason == 0
    await client.close()


@pytest.mark.parametrize(("version", "code"), [(V311, 0x04), (V5, 0x86)], ids=["3.1.1", "5"])
async def test_a_wrong_password_is_refused(
    server: TestServer, port: int, version: int, code: int
) -> None:
    client = await MqttClient.open(port, version)
    client.send(Connect(version, "x", username="bob", password=b"wrong"))
    got = await client.closed()
    assert len(got) == 1
    assert isinstance(got[0], ConnAck)
    assert got[0].reason == code
    if version == V5:
        assert got[0].properties.reason_string == "bad user name or password"


@pytest.mark.parametrize(("version", "code"), [(V311, 0x05), (V5, 0x87)], ids=["3.1.1", "5"])
async def test_no_password_is_refused(
    server: TestServer, port: int, version: int, code: int
) -> None:
    client = await MqttClient.open(port, version)
    client.send(Connect(version, "x", username="bob"))
    got = await client.closed()
    assert [type(p) for p in got] == [ConnAck]
    assert got[0].reason == code


async def test_an_empty_client_id_is_assigned_one_in_mqtt5(server: TestServer, port: int) -> None:
    client, ack = await MqttClient.connected(port, "bob", version=V5)
    assigned = ack.properties.assigned_client_id
    assert assigned is not None
    assert assigned.startswith("homer-")
    assert ack.properties.receive_maximum == 100
    assert ack.properties.topic_alias_maximum == 10
    assert ack.properties.maximum_packet_size == 1024 * 1024
    await client.close()


async def test_an_empty_client_id_needs_a_clean_session_in_311(
    server: TestServer, port: int
) -> None:
    client = await MqttClient.open(port, V311)
    client.send(Connect(V311, "", clean_start=False, username="bob", password=PASSWORD.encode()))
    got = await client.closed()
    assert isinstance(got[0], ConnAck)
    assert got[0].reason == 0x02
    client, ack = await MqttClient.connected(port, "bob", version=V311)
    assert ack.reason == 0
    await client.close()


async def test_an_unknown_protocol_level_is_refused(server: TestServer, port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # CONNECT, protocol name MQTT, level 9, clean session, keep-alive 60, empty client id.
    body = b"\x00\x04MQTT\x09\x02\x00\x3c\x00\x00"
    writer.write(bytes([0x10, len(body)]) + body)
    data = await asyncio.wait_for(reader.read(100), 10)
    assert data == b"\x20\x02\x00\x01"  # CONNACK: unacceptable protocol version
    assert await asyncio.wait_for(reader.read(100), 10) == b""
    writer.close()


async def test_a_packet_before_connect_closes(server: TestServer, port: int) -> None:
    client = await MqttClient.open(port, V311)
    client.send(PingReq())
    assert await client.closed() == []


async def test_a_keep_alive_that_runs_out_disconnects(server: TestServer, port: int) -> None:
    client, _ = await MqttClient.connected(port, "bob", version=V5, keep_alive=1)
    got = await client.closed(wait=15)
    assert [type(p) for p in got] == [Disconnect]
    assert got[0].reason == 0x8D  # type: ignore[union-attr]


async def test_a_second_connection_takes_the_session_over(server: TestServer, port: int) -> None:
    first, _ = await MqttClient.connected(port, "bob", version=V5, client_id="phone")
    second, _ = await MqttClient.connected(port, "bob", version=V5, client_id="phone")
    got = await first.closed()
    assert [type(p) for p in got] == [Disconnect]
    assert got[0].reason == 0x8E  # type: ignore[union-attr]
    # Another account's client with the same id is another session.
    third, _ = await MqttClient.connected(port, "carol", version=V5, client_id="phone")
    second.send(PingReq())
    await second.expect(PingResp)
    await second.close()
    await third.close()


async def test_auth_is_refused(server: TestServer, port: int) -> None:
    from homer.protocol.mqtt import Auth

    client, _ = await MqttClient.connected(port, "bob", version=V5)
    client.send(Auth(0x18, Properties(auth_method="SCRAM-SHA-1")))
    got = await client.closed()
    assert isinstance(got[0], Disconnect)
    assert got[0].reason == 0x8C


async def test_a_malformed_packet_disconnects_with_its_reason(
    server: TestServer, port: int
) -> None:
    client, _ = await MqttClient.connected(port, "bob", version=V5)
    client.writer.write(b"\x32\x03\x00\x05a")  # PUBLISH whose topic runs past the packet
    got = await client.closed()
    assert isinstance(got[0], Disconnect)
    assert got[0].reason == 0x81
    assert got[0].properties.reason_string


async def test_a_wildcard_in_a_published_topic_disconnects(server: TestServer, port: int) -> None:
    client, _ = await MqttClient.connected(port, "bob", version=V5)
    client.writer.write(b"\x30\x09\x00\x07rooms/+")  # QoS 0 PUBLISH to rooms/+
    got = await client.closed()
    assert isinstance(got[0], Disconnect)
    assert got[0].reason in (0x81, 0x82)


async def test_publish_before_connack_goes_after_it(server: TestServer, port: int) -> None:
    alice = await server.client("alice")
    await alice.create("lobby")
    client = await MqttClient.open(port, V311)
    client.send(Connect(V311, "early", username="bob", password=PASSWORD.encode()))
    client.send(Publish("rooms/lobby", b"right after connect"))
    await client.expect(ConnAck)
    event = await alice.next_event("msg")
    while event.body.get("text") != "right after connect":
        event = await alice.next_event("msg")
    await client.close()


async def test_response_information_and_problem_information(server: TestServer, port: int) -> None:
    asked = Properties(request_response_info=1, request_problem_info=0)
    client, ack = await MqttClient.connected(port, "bob", version=V5, properties=asked)
    assert ack.properties.response_info == "users/bob"
    client.send(Publish("rooms/nowhere", b"x", 1, packet_id=1))
    refused = await client.answer(PubAck)
    assert refused.reason == 0x87
    assert refused.properties.reason_string is None  # not asked for
    plain, ack = await MqttClient.connected(port, "bob", version=V5)
    assert ack.properties.response_info is None
    plain.send(Publish("rooms/nowhere", b"x", 1, packet_id=1))
    assert (await plain.answer(PubAck)).properties.reason_string == "no room 'nowhere'"


async def test_a_subscription_identifier_in_a_publish_disconnects(
    server: TestServer, port: int
) -> None:
    client, _ = await MqttClient.connected(port, "bob", version=V5)
    client.send(Publish("rooms/x", b"x", properties=Properties(subscription_ids=[3])))
    got = await client.closed()
    assert isinstance(got[-1], Disconnect)
    assert got[-1].reason == 0x82


async def test_connect_refusals_of_the_documented_kinds(tmp_path: Path) -> None:
    def limited(config: HomerConfig) -> HomerConfig:
        return replace_config(
            with_mqtt(config),
            limits={"max_connections_per_user": 1, "logins_per_account": 2},
            mqtt={"max_keep_alive": 30},
        )

    async with running_homer(tmp_path, configure=limited) as server:
        await server.user("bob")
        await server.user("carol")
        await server.user("dave")
        assert server.mqtt_port is not None
        port = server.mqtt_port
        # A keep-alive of 0 (none) or above mqtt.max_keep_alive becomes it.
        bob, ack = await MqttClient.connected(port, "bob", version=V5, keep_alive=0)
        assert ack.properties.server_keep_alive == 30
        # One connection per user: a second is refused, 0x97 in 5 and 0x03 in 3.1.1.
        for version, code in ((V5, 0x97), (V311, 0x03)):
            other = await MqttClient.open(port, version)
            other.send(Connect(version, "two", username="bob", password=PASSWORD.encode()))
            got = await other.closed()
            assert isinstance(got[0], ConnAck)
            assert got[0].reason == code
        await bob.close()
        # A will on a $ topic, and a client id over 256 characters.
        for connect, code in (
            (
                Connect(
                    V5,
                    "w",
                    username="carol",
                    password=PASSWORD.encode(),
                    will=Will("$SYS/x", b"gone"),
                ),
                0x90,
            ),
            (Connect(V5, "x" * 257, username="carol", password=PASSWORD.encode()), 0x85),
        ):
            client = await MqttClient.open(port, V5)
            client.send(connect)
            got = await client.closed()
            assert isinstance(got[0], ConnAck)
            assert got[0].reason == code
        # Too many wrong passwords: 0x9F, whatever the password after.
        codes = []
        for _ in range(4):
            client = await MqttClient.open(port, V5)
            client.send(Connect(V5, "y", username="dave", password=b"wrong"))
            got = await client.closed()
            assert isinstance(got[0], ConnAck)
            codes.append(got[0].reason)
        assert codes[0] == 0x86
        assert codes[-1] == 0x9F
