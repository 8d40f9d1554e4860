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
publish at that QoS. The kind ``homer-mqtt`` is the same client for Homer's
MQTT listener, which wants an account: the token is the CONNECT's password,
under the user name ``*`` (Homer takes a token under ``*`` or the account's own
name; under any other, it tries the token as a password), and the
client id is a short one of the process's own (a token is no client id); being
a kind of its own, it keeps a process's Homer and Mosquitto subscribers of the
same topic apart in ``wait``. With ``dedup`` each connection keeps
the send times (``@@<monotonic>@@`` in every text, unique per message) of what
it received since the last ``reset``, and ``wait`` counts a delivery seen
before as extra and a missing one as lost, as ``transports.py`` does by
``seq``: QoS 0 carries nothing else to tell messages apart, and a count alone
would let a duplicate hide a loss. A set lookup per delivery is the price,
so the fan-out asks for it and the pairs runs (which check every receipt
their own way) do not. A QoS 1 send is acknowledged by its PUBACK. A QoS 0 send
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

STAMP = lean.STAMP
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

    __slots__ = ("echoes", "qos", "seen")

    def __init__(
        self, worker: lean.Worker, qos: int, dedup: bool = False, kind: str = "mqtt"
    ) -> None:
        super().__init__(worker, kind)
        self.qos = qos
        #: QoS 0 sends waiting for their own copy to come back, oldest first.
        self.echoes: deque[asyncio.Future[Any]] = deque()
        #: With ``dedup``: the send times of the deliveries since the last ``reset``.
        self.seen: set[bytes] | None = set() if dedup else None

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
                if self.seen is not None:
                    self.note_stamp(data, start, end)
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

    def note_stamp(self, data: bytes, start: int, end: int) -> None:
        """A delivery seen before on this connection (by its send time) is a duplicate;
        so is one without a send time."""
        assert self.seen is not None
        i = data.find(STAMP, start, end)
        j = data.find(STAMP, i + 2, end) if i >= 0 else -1
        stamp = data[i + 2 : j] if j >= 0 else b""
        if not stamp or stamp in self.seen:
            self.dups += 1
        else:
            self.seen.add(stamp)

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
        self.dedup = False
        self.clients = 0

    async def cmd_open(  # type: ignore[override]
        self, qos: int = 0, dedup: bool = False, **args: Any
    ) -> dict[str, Any]:
        self.qos, self.dedup = qos, dedup
        return await super().cmd_open(**args)

    async def open_one(
        self, kind: str, host: str, port: int, token: str, source: str | None, path: str = "/ws"
    ) -> lean.Conn:
        if kind not in ("mqtt", "homer-mqtt"):
            return await super().open_one(kind, host, port, token, source, path)
        sock = await lean.connect_socket(host, port, source)
        # Protocol "MQTT" level 4 (3.1.1), clean session, keep-alive 0 (none).
        if kind == "homer-mqtt":  # user name and password flags too
            self.clients += 1
            client_id = f"{self.prefix}-{self.clients}"
            body = b"\xc2\x00\x00" + string(client_id) + string("*") + string(token)
        else:
            body = b"\x02\x00\x00" + string(token)
        connect = packet(CONNECT, 0, string("MQTT") + b"\x04" + body)
        conn = MqttConn(self, self.qos, self.dedup, kind)
        return await lean.greeted(conn, sock, connect)  # the CONNACK

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

    def cmd_reset(self, latency: bool = False, stamps: bool = False) -> dict[str, Any]:
        for conn in self.conns:
            if isinstance(conn, MqttConn) and conn.seen is not None:
                conn.seen = set()
        return super().cmd_reset(latency, stamps)

    async def cmd_wait(
        self,
        kind: str,
        room: str,
        expected: int,
        max_seconds: float = 60.0,
        latencies: bool = False,
    ) -> dict[str, Any]:
        """``lean.py``'s ``wait``; where connections check send times (``dedup``), lost
        and extra are counted by them: a member's first receipt of each message counts,
        up to ``expected``; one seen before, and new ones past ``expected``, are extra."""
        found = await super().cmd_wait(kind, room, expected, max_seconds, latencies)
        members = [c for c in self.conns if c.kind == kind and room in c.rooms]
        if not any(isinstance(c, MqttConn) and c.seen is not None for c in members):
            return found
        got = extra = 0
        for conn in members:
            new = conn.count - conn.dups
            got += min(new, expected)
            extra += conn.dups + max(0, new - expected)
        found["lost"] = expected * len(members) - got
        found["extra"] = extra
        return found

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
