"""The lean client (``bench/clients/lean.py``) with one more kind of connection: ``mqtt``.

An MQTT 3.1.1 client written for the Mosquitto baseline, and no more of the
protocol than it uses: CONNECT/CONNACK (clean session, no keep-alive, the
``open`` token as the client id), SUBSCRIBE/SUBACK (a ``join``: its rooms are
topics), PUBLISH at QoS 0 or 1 both ways, and PUBACK. It is hand-rolled, like
the WebSocket client it sits beside, rather than paho-mqtt: paho runs its own
network loop per client, in a thread or driven by callbacks, and a thousand of
those in one process would cost the client side more CPU than the broker
spends, measuring the client instead of the server. Here a connection is one
small ``asyncio.Protocol`` object sharing the process's event loop, the
counters and latency stamps of ``lean.Worker``, and its commands (``open``,
``wait``, ``publish``, ``pairs``): Homer's and Socket.IO's kinds work as in
``lean.py``, so one process holds connections to every server of a scenario.

``open`` takes ``qos`` (0 or 1): the connections it opens subscribe and
publish at that QoS. A QoS 1 send is acknowledged by its PUBACK. A QoS 0 send
has no acknowledgement, so its future is settled by the connection's own copy
coming back from the broker (a publisher must subscribe to what it sends, as
the fan-out's does): the window of unacknowledged sends is then a window of
messages not yet seen back, which the broker delivers in order.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lean

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9


def packet(kind: int, flags: int, body: bytes) -> bytes:
    """A control packet: the fixed header (type, flags, remaining length), then ``body``."""
    head = bytearray((kind << 4 | flags,))
    n = len(body)
    while True:
        n, digit = divmod(n, 128)
        head.append(digit | 128 if n else digit)
        if not n:
            return bytes(head) + body


def string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


class MqttConn(lean.Conn):
    """One MQTT connection, with the counters of ``lean.Conn``; ``rid`` is the packet id."""

    __slots__ = ("echoes", "qos")

    def __init__(self, worker: lean.Worker, qos: int) -> None:
        super().__init__(worker, "mqtt")
        self.qos = qos
        #: QoS 0 sends waiting for their own copy to come back, oldest first.
        self.echoes: deque[asyncio.Future[Any]] = deque()

    def connection_lost(self, exc: Exception | None) -> None:
        for future in self.echoes:
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost: {exc!r}"))
        self.echoes.clear()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        n = len(data)
        pos = 0
        acks = []
        while n - pos >= 2:
            length, shift, at = 0, 0, pos + 1
            while at < n and at < pos + 5:  # the remaining length: 1 to 4 bytes
                digit = data[at]
                length |= (digit & 127) << shift
                shift += 7
                at += 1
                if digit < 128:
                    break
            else:
                break  # not all of it here yet
            end = at + length
            if end > n:
                break
            kind = data[pos] >> 4
            if kind == PUBLISH:
                start = at + 2 + ((data[at] << 8) | data[at + 1])  # after the topic
                if data[pos] & 6:  # QoS 1: acknowledge it (all together, below)
                    acks.append(b"\x40\x02" + data[start : start + 2])
                    start += 2
                self.count += 1
                self.worker.delivered(data, start, end, self)
                if self.echoes:
                    echo = self.echoes.popleft()
                    if not echo.done():
                        echo.set_result(None)
            elif kind in (PUBACK, SUBACK):
                future = self.pending.pop((data[at] << 8) | data[at + 1], None)
                if future is not None and not future.done():
                    future.set_result(data[at + 2 : end])
            elif kind == CONNACK and self.waiter is not None and not self.waiter.done():
                if data[at + 1] == 0:
                    self.waiter.set_result(None)
                else:
                    self.waiter.set_exception(lean.RequestFailed(f"CONNACK {data[at + 1]}"))
            pos = end
        if acks and self.transport is not None:
            self.transport.write(b"".join(acks))
        if pos < n:
            self.buf = data[pos:]

    def write(self, payload: bytes) -> None:
        if self.transport is not None:
            self.transport.write(payload)

    def request(self, make: Any) -> asyncio.Future[Any]:
        """Send ``make(packet_id)``; the future of its PUBACK or SUBACK."""
        self.rid = self.rid % 65535 + 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[self.rid] = future
        self.write(make(self.rid))
        return future


class MqttWorker(lean.Worker):
    def __init__(self) -> None:
        super().__init__()
        self.qos = 0

    async def cmd_open(self, qos: int = 0, **args: Any) -> dict[str, Any]:  # type: ignore[override]
        self.qos = qos
        return await super().cmd_open(**args)

    async def open_one(
        self, kind: str, host: str, port: int, token: str, source: str | None, path: str = "/ws"
    ) -> lean.Conn:
        if kind != "mqtt":
            return await super().open_one(kind, host, port, token, source, path)
        sock = await lean.connect_socket(host, port, source)
        # Protocol "MQTT" level 4 (3.1.1), clean session, keep-alive 0 (none).
        connect = packet(CONNECT, 0, string("MQTT") + b"\x04\x02\x00\x00" + string(token))
        return await lean.greeted(MqttConn(self, self.qos), sock, connect)  # the CONNACK

    async def join(self, conn: lean.Conn, rooms: list[str]) -> None:
        if not isinstance(conn, MqttConn):
            await super().join(conn, rooms)
            return
        filters = b"".join(string(room) + bytes((conn.qos,)) for room in rooms)
        granted = await conn.request(
            lambda pid: packet(SUBSCRIBE, 2, pid.to_bytes(2, "big") + filters)
        )
        if 0x80 in granted:
            raise lean.RequestFailed(f"SUBACK {granted!r} for {rooms}")
        conn.rooms = conn.rooms + tuple(rooms)

    def _send_one(
        self, conn: lean.Conn, room: str, size: int, mark: str = ""
    ) -> asyncio.Future[Any]:
        if not isinstance(conn, MqttConn):
            return super()._send_one(conn, room, size, mark)
        topic = string(room)
        payload = lean.stamped_text(size, mark).encode()
        if conn.qos:
            return conn.request(
                lambda pid: packet(PUBLISH, 2, topic + pid.to_bytes(2, "big") + payload)
            )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.echoes.append(future)
        conn.write(packet(PUBLISH, 0, topic + payload))
        return future


if __name__ == "__main__":
    lean.run(MqttWorker)
