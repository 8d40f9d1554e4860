"""One room, every protocol: an MQTT client, an IRC client, a WebSocket client and
a raw TCP client in one room. Each message reaches every other client once and in
the room's order, and the room's rules refuse the same things whatever carried
the request."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from homer.client import HomerClient
from homer.config import HomerConfig
from homer.protocol.mqtt import V5, PubAck, Publish
from homer.testing.server import replace_config, running_homer
from homer.testing.transport_conformance import quick_presence
from tests.conformance.test_irc import _clients, _homer_said, _irc_said, _ruled
from tests.irc.lines import registered
from tests.mqtt.client import MqttClient
from tests.server.test_tls import make_certificate

PER_CLIENT = 15


def configure(config: HomerConfig) -> HomerConfig:
    return quick_presence(
        replace_config(config, server={"irc_port": 0, "tcp_port": 0, "mqtt_port": 0})
    )


async def _mqtt_said(
    client: MqttClient, count: int, acks: list[PubAck]
) -> list[tuple[int, str, str]]:
    """What the MQTT client heard (its own PUBACKs, between them, go to ``acks``)."""
    said: list[tuple[int, str, str]] = []
    while len(said) < count:
        packet = await client.next()
        if isinstance(packet, PubAck):
            acks.append(packet)
            continue
        assert isinstance(packet, Publish)
        assert packet.qos == 1
        assert packet.packet_id is not None
        client.send(PubAck(packet.packet_id))
        props = dict(packet.properties.user_properties)
        said.append((int(props["seq"]), props["sender"], packet.payload.decode()))
    return said


async def test_every_message_reaches_every_other_client_once_in_order(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=configure) as server:
        for name in ("irky", "mqtty"):
            await server.user(name)
        web, tcp = await _clients(server)
        await web.create("mixed")
        await tcp.join("mixed")
        assert server.irc_port is not None
        assert server.mqtt_port is not None
        mqtt, _ = await MqttClient.connected(server.mqtt_port, "mqtty", version=V5)
        await mqtt.subscribe("rooms/mixed", qos=1)
        try:
            async with registered(server.irc_port, "irky", caps="message-tags") as irc:
                await irc.join("#mixed")
                for _ in range(2):  # mqtty's join, then irky's, as events only
                    await web.next_event("msg")
                    await tcp.next_event("msg")

                async def irc_sends() -> None:
                    await irc.send(*[f"PRIVMSG #mixed :irc {n}" for n in range(PER_CLIENT)])

                async def mqtt_sends() -> None:
                    for n in range(PER_CLIENT):
                        mqtt.send(Publish("rooms/mixed", f"mqtt {n}".encode(), 1, packet_id=n + 1))

                async def homer_sends(client: HomerClient, who: str) -> None:
                    for n in range(PER_CLIENT):
                        await client.send("mixed", f"{who} {n}")

                total = 4 * PER_CLIENT
                acks: list[PubAck] = []
                heard = asyncio.gather(
                    _irc_said(irc, 3 * PER_CLIENT),
                    _homer_said(web, total),
                    _homer_said(tcp, total),
                    _mqtt_said(mqtt, total, acks),
                )
                await asyncio.gather(
                    irc_sends(), mqtt_sends(), homer_sends(web, "web"), homer_sends(tcp, "tcp")
                )
                by_irc, by_web, by_tcp, by_mqtt = await asyncio.wait_for(heard, 60)
                while len(acks) < PER_CLIENT:  # the last ones may follow their echo
                    acks.append(await mqtt.answer(PubAck))
        finally:
            await mqtt.close()

        assert by_web == by_tcp
        seqs = [seq for seq, _, _ in by_web]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        assert by_irc == [entry for entry in by_web if entry[1] != "irky"]
        # MQTT clients get their own messages back, as MQTT does: all of them.
        assert by_mqtt == by_web
        for who, name in (("irc", "irky"), ("web", "webby"), ("tcp", "tcpy"), ("mqtt", "mqtty")):
            texts = [text for _, sender, text in by_web if sender == name]
            assert texts == [f"{who} {n}" for n in range(PER_CLIENT)]
        assert sorted(ack.packet_id for ack in acks if ack.reason == 0) == list(
            range(1, PER_CLIENT + 1)
        )


async def test_the_same_rules_whatever_the_protocol(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=configure) as server:
        await _ruled(server, "mqtty")
        assert server.mqtt_port is not None
        mqtt, _ = await MqttClient.connected(server.mqtt_port, "mqtty", version=V5)
        assert (await mqtt.subscribe("rooms/hidden", "rooms/banning")).reasons == [0x87, 0x87]
        await (await server.client("mqtty")).join("news")
        answer = await mqtt.publish("rooms/news", "hi", 1)
        assert isinstance(answer, PubAck)
        assert answer.reason == 0x87
        assert answer.properties.reason_string == "mqtty lacks permission 'room.announce'"


async def test_mqtts_speaks_tls_with_the_servers_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)

    def over_tls(config: HomerConfig) -> HomerConfig:
        return replace_config(
            config, server={"mqtts_port": 0, "tls_cert": str(cert), "tls_key": str(key)}
        )

    trusting = ssl.create_default_context(cafile=str(cert))
    async with running_homer(tmp_path / "data", configure=over_tls) as server:
        await server.user("mqtty")
        port = server.running.mqtts_port
        assert port is not None
        assert server.running.mqtt_port is None
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trusting)
        client = MqttClient(reader, writer, V5)
        MqttClient.opened.append(client)
        from homer.protocol.mqtt import ConnAck, Connect
        from homer.testing.server import PASSWORD

        client.send(Connect(V5, "tls", username="mqtty", password=PASSWORD.encode()))
        assert (await client.expect(ConnAck)).reason == 0
        await client.close()
