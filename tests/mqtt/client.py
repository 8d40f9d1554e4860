"""A bare MQTT client for the listener's tests: Homer's own packet codec over an
asyncio stream, so that a test says exactly what goes on the wire and reads
exactly what comes back."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar, TypeVar

from homer.protocol.mqtt import (
    V5,
    ConnAck,
    Connect,
    Packet,
    Properties,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    decode,
    encode,
)
from homer.testing.server import PASSWORD

P = TypeVar("P")

#: How long a test waits for a packet before it fails.
WAIT = 10.0


class ClientReader:
    """Server packets from bytes: the codec's reader decodes what a server
    receives, so the client cuts packets itself and decodes each one."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        self.buffer += data
        packets: list[Packet] = []
        while True:
            buf = self.buffer
            if len(buf) < 2:
                return packets
            length, shift, at = 0, 0, 1
            while True:
                if at >= len(buf):
                    return packets
                byte = buf[at]
                length |= (byte & 0x7F) << shift
                shift += 7
                at += 1
                if not byte & 0x80:
                    break
            if len(buf) < at + length:
                return packets
            whole = bytes(buf[: at + length])
            del buf[: at + length]
            packets.append(decode(whole, self.version))


class MqttClient:
    #: Every client a test opened, closed by the fixture in conftest.py at its end.
    opened: ClassVar[list[MqttClient]] = []

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, version: int
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.version = version
        self.packets = ClientReader(version)
        self.pending: list[Packet] = []
        self.next_id = 0

    @classmethod
    async def open(cls, port: int, version: int = V5) -> MqttClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer, version)
        cls.opened.append(client)
        return client

    @classmethod
    async def connected(
        cls,
        port: int,
        name: str,
        *,
        version: int = V5,
        password: str = PASSWORD,
        client_id: str = "",
        clean: bool = True,
        **connect: Any,
    ) -> tuple[MqttClient, ConnAck]:
        client = await cls.open(port, version)
        client.send(
            Connect(
                version,
                client_id,
                clean_start=clean,
                username=name,
                password=password.encode(),
                **connect,
            )
        )
        ack = await client.expect(ConnAck)
        return client, ack

    def send(self, packet: Packet) -> None:
        self.writer.write(encode(packet, self.version))

    def packet_id(self) -> int:
        self.next_id = self.next_id % 65535 + 1
        return self.next_id

    async def next(self, wait: float = WAIT) -> Packet:
        if self.pending:
            return self.pending.pop(0)
        async with asyncio.timeout(wait):
            while not self.pending:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("the server closed the connection")
                self.pending += self.packets.feed(data)
        return self.pending.pop(0)

    async def expect(self, kind: type[P], wait: float = WAIT) -> P:
        packet = await self.next(wait)
        assert isinstance(packet, kind), f"expected {kind.__name__}, got {packet!r}"
        return packet

    async def answer(self, kind: type[P], wait: float = WAIT) -> P:
        """The next packet of ``kind`` (an acknowledgement), leaving what came
        before it (deliveries) to be read in their order."""
        for at, packet in enumerate(self.pending):
            if isinstance(packet, kind):
                del self.pending[at]
                return packet
        async with asyncio.timeout(wait):
            while True:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("the server closed the connection")
                found: P | None = None
                for packet in self.packets.feed(data):
                    if found is None and isinstance(packet, kind):
                        found = packet
                    else:
                        self.pending.append(packet)
                if found is not None:
                    return found

    async def quiet(self, seconds: float = 0.3) -> None:
        """Nothing arrives for a while."""
        try:
            packet = await self.next(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {packet!r}")

    async def closed(self, wait: float = WAIT) -> list[Packet]:
        """What the server wrote before it closed the connection."""
        got = list(self.pending)
        self.pending = []
        async with asyncio.timeout(wait):
            while True:
                data = await self.reader.read(65536)
                if not data:
                    await self.close()
                    return got
                got += self.packets.feed(data)

    async def subscribe(self, *filters: str, qos: int = 0, **props: Any) -> SubAck:
        pid = self.packet_id()
        subs = [Subscription(f, qos) for f in filters]
        self.send(Subscribe(pid, subs, Properties(**props)))
        ack = await self.answer(SubAck)
        assert ack.packet_id == pid
        return ack

    async def publish(
        self, topic: str, payload: bytes | str, qos: int = 0, *, retain: bool = False, **props: Any
    ) -> Packet | None:
        """Publish and go through the QoS flow: the PUBACK or PUBCOMP (None at QoS 0)."""
        data = payload.encode() if isinstance(payload, str) else payload
        pid = self.packet_id() if qos else None
        self.send(Publish(topic, data, qos, retain, packet_id=pid, properties=Properties(**props)))
        if qos == 1:
            return await self.answer(PubAck)
        if qos == 2:
            rec = await self.answer(PubRec)
            if rec.reason >= 0x80:
                return rec
            assert pid is not None
            self.send(PubRel(pid))
            return await self.answer(PubComp)
        return None

    async def received(self, wait: float = WAIT) -> Publish:
        """The next PUBLISH, acknowledged as the QoS asks."""
        packet = await self.expect(Publish, wait)
        if packet.qos == 1 and packet.packet_id:
            self.send(PubAck(packet.packet_id))
        elif packet.qos == 2 and packet.packet_id:
            self.send(PubRec(packet.packet_id))
            rel = await self.answer(PubRel)
            self.send(PubComp(rel.packet_id))
        return packet

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
