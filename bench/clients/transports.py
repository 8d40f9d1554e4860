"""The lean client (``bench/clients/lean.py``) with Homer's other transports.

Kinds of connection, besides ``lean.py``'s ``homer`` (WebSocket, JSON) and
``sio`` (the Socket.IO baseline):

* ``homer-msgpack``: a WebSocket asking for ``Sec-WebSocket-Protocol:
  homer.msgpack``: one MessagePack map per binary frame.
* ``tcp-lines``: raw TCP after the greeting ``homer/1 json lines``: one JSON
  document per line.
* ``tcp-length``: raw TCP after ``homer/1 msgpack length``: a 4-byte
  big-endian length, then a MessagePack map.
* ``sse``: ``GET /api/events?rooms=...`` (Server-Sent Events): a chunked
  response, one chunk per write, each holding whole events; open once the
  ``ready`` event has come.
* ``longpoll``: ``POST /api/queues`` (the rooms of the queue), then
  ``GET /api/queues/{id}/events?after=N&timeout=S`` again and again on the same
  keep-alive connection, ``N`` being the last event id received: the next poll
  is written from the callback that read the answer, no task per poll.

Like ``lean.py``, every connection is one small ``asyncio.Protocol`` and a
delivery is found by the bytes it starts with (``{"op":"msg"`` in JSON; the map
header, then ``op`` = ``msg`` in MessagePack), never by decoding it. Every
delivery's ``seq`` is checked (``Conn.note_seq``): ``wait`` counts what was lost
and what came twice (or out of order) by sequence number, not by count.

Commands added to ``lean.py``'s (same JSON-lines framing over stdin/stdout):

* ``open`` takes ``rooms``: the rooms an ``sse`` stream or a ``longpoll`` queue
  asks for (without it: all the user's rooms).
* ``chat(room, rate, seconds, size)``: every ``homer`` connection sends to
  ``room``, ``rate`` messages a second each, on a fixed schedule whatever the
  acks do (no coordinated omission), for ``seconds``; returns each send's round
  trip to its ack. With ``reset(latency=True)`` before it, ``wait`` returns the
  send-to-receipt times at every member.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lean

#: A MessagePack ``msg`` envelope, after its map header: the key ``op``, the value ``msg``.
MSG_MSGPACK = b"\xa2op\xa3msg"
SEQ_MSGPACK = b"\xa3seq"
MSG_JSON = lean.MSG_HOMER
EVENT = b"event: "
EVENT_MSG = b"event: msg\n"
LONGPOLL_MSG = b'"event":{"op":"msg"'
LONGPOLL_NEXT = b'"event":'
LAST_EVENT_ID = b'"last_event_id":'
GREETINGS = {"tcp-lines": b"homer/1 json lines\n", "tcp-length": b"homer/1 msgpack length\n"}
#: Seconds a long-poll waits for events (the server allows up to 55).
POLL_TIMEOUT = 50

_json_decode = msgspec.json.decode
_mp_encode = msgspec.msgpack.encode
_mp_decode = msgspec.msgpack.decode
_monotonic = lean._monotonic


def msgpack_seq(data: bytes, start: int, end: int) -> int:
    """The ``seq`` of a MessagePack envelope in ``data[start:end]``; -1 if none."""
    i = data.find(SEQ_MSGPACK, start, end)
    if i < 0 or i + 4 >= end:
        return -1
    i += 4
    first = data[i]
    if first < 0x80:  # positive fixint
        return first
    size = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}.get(first)
    if size is None:
        return -1
    return int.from_bytes(data[i + 1 : i + 1 + size], "big")


def other_document(conn: lean.Conn, document: Any) -> None:
    """Whatever is not a delivery: answers settle requests; a raw TCP ``ping`` event
    is answered with a ping request (any frame would do); the rest is ignored."""
    if not isinstance(document, dict):
        return
    op = document.get("op")
    if op in ("reply", "error"):
        conn.answer(document)
    elif op == "ping":
        conn.write(b'{"op":"ping"}')
    elif op == "close":
        conn.worker.closes.append(document.get("body"))  # type: ignore[attr-defined]


def msgpack_document(conn: lean.Conn, data: bytes, start: int, end: int) -> None:
    if data.startswith(MSG_MSGPACK, start + 1, end):
        conn.count += 1
        conn.worker.delivered(data, start, end)
        conn.note_seq(msgpack_seq(data, start, end))
    else:
        other_document(conn, _mp_decode(data[start:end]))


def json_document(conn: lean.Conn, data: bytes, start: int, end: int) -> None:
    if data.startswith(MSG_JSON, start, end):
        conn.count += 1
        conn.worker.delivered(data, start, end)
        conn.note_seq(lean.json_seq(data, start, end))
    elif end > start:
        other_document(conn, _json_decode(data[start:end]))


class MsgpackConn(lean.Conn):
    """A WebSocket in ``homer.msgpack``: lean's frames, binary messages decoded here."""

    __slots__ = ()

    def write(self, payload: bytes) -> None:
        # lean.py's requests are JSON: the same document, re-encoded (rare: hello).
        if self.transport is not None:
            self.transport.write(lean.masked_frame(_mp_encode(_json_decode(payload)), 0x2))

    def binary(self, data: bytes, start: int, end: int) -> None:
        msgpack_document(self, data, start, end)


class TCPConn(lean.Conn):
    """Raw TCP: ``tcp-lines`` (JSON lines) or ``tcp-length`` (length-prefixed MessagePack)."""

    __slots__ = ("lines",)

    def __init__(self, worker: lean.Worker, kind: str) -> None:
        super().__init__(worker, kind)
        self.lines = kind == "tcp-lines"
        self.handshaken = True

    def write(self, payload: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        if self.lines:
            transport.write(payload + b"\n")
        else:
            body = _mp_encode(_json_decode(payload))
            transport.write(len(body).to_bytes(4, "big") + body)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        n = len(data)
        pos = 0
        if self.lines:
            while True:
                end = data.find(b"\n", pos)
                if end < 0:
                    break
                json_document(self, data, pos, end)
                pos = end + 1
        else:
            while n - pos >= 4:
                start = pos + 4
                end = start + int.from_bytes(data[pos:start], "big")
                if end > n:
                    break
                msgpack_document(self, data, start, end)
                pos = end
        if pos < n:
            self.buf = data[pos:]


class SSEConn(lean.Conn):
    """One ``GET /api/events`` stream: HTTP/1.1 chunks, each holding whole events."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        pos = 0
        if not self.handshaken:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            self.handshaken = True
            if not data.startswith(b"HTTP/1.1 200"):
                self._refused(data)
                return
            pos = end + 4
        n = len(data)
        while pos < n:
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(data[pos:eol], 16)
            start = eol + 2
            end = start + size
            if end + 2 > n:
                break
            if size:
                self._events(data, start, end)
            pos = end + 2
        if pos < n:
            self.buf = data[pos:]

    def _events(self, data: bytes, start: int, end: int) -> None:
        while start < end:
            stop = data.find(b"\n\n", start, end)
            if stop < 0:
                stop = end
            at = data.find(EVENT, start, stop)
            if at >= 0:
                if data.startswith(EVENT_MSG, at, stop):
                    self.count += 1
                    self.worker.delivered(data, at, stop)
                    self.note_seq(lean.json_seq(data, at, stop))
                else:
                    self._other(data[at:stop])
            start = stop + 2

    def _other(self, event: bytes) -> None:
        name, _, rest = event[len(EVENT) :].partition(b"\n")
        _, _, payload = rest.partition(b"data: ")
        if name == b"ready":
            body = _json_decode(payload)["body"]
            self.rooms = tuple(room["id"] for room in body["rooms"])
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)
        elif name == b"close":
            self.worker.closes.append(_json_decode(payload))  # type: ignore[attr-defined]

    def _refused(self, data: bytes) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(data[:300].decode(errors="replace")))
        if self.transport is not None:
            self.transport.close()


class LongPollConn(lean.Conn):
    """One long-poll queue on one keep-alive HTTP/1.1 connection: register, then poll,
    the next poll written as soon as an answer is read."""

    __slots__ = ("after", "length", "poll_head", "poll_tail", "queue", "status")

    def __init__(self, worker: lean.Worker, kind: str) -> None:
        super().__init__(worker, kind)
        self.queue: str | None = None
        self.after = 0
        self.status = 0
        #: Body bytes still to come of the answer being read (-1: reading its head).
        self.length = -1
        self.poll_head = b""
        self.poll_tail = b""

    def register(self, host: str, port: int, token: str, rooms: list[str] | None) -> None:
        body = msgspec.json.encode({"rooms": rooms} if rooms else {})
        auth = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        assert self.transport is not None
        self.transport.write(
            f"POST /api/queues HTTP/1.1\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        self.poll_tail = f"&timeout={POLL_TIMEOUT} HTTP/1.1\r\n{auth}\r\n".encode()

    def poll(self) -> None:
        if self.transport is not None:
            self.transport.write(self.poll_head + str(self.after).encode() + self.poll_tail)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        n = len(data)
        pos = 0
        while pos < n:
            if self.length < 0:
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    break
                head = data[pos:end].decode("latin-1").lower()
                self.status = int(head[9:12])
                marker = head.find("content-length:")
                if marker < 0:
                    self._fail(f"an answer without a Content-Length: {head[:200]}")
                    return
                self.length = int(head[marker + 15 :].split("\r\n", 1)[0])
                pos = end + 4
            if n - pos < self.length:
                break
            end = pos + self.length
            self.length = -1
            self._answer(data, pos, end)
            pos = end
        if pos < n:
            self.buf = data[pos:]

    def _answer(self, data: bytes, start: int, end: int) -> None:
        if self.queue is None:  # the registration
            if self.status != 201:
                self._fail(f"{self.status} {data[start:end][:200]!r}")
                return
            answer = _json_decode(data[start:end])
            self.queue = answer["queue"]
            self.rooms = tuple(room["id"] for room in answer["rooms"])
            self.poll_head = f"GET /api/queues/{self.queue}/events?after=".encode()
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)
            self.poll()
            return
        if self.status != 200:  # the queue is gone (404 too_slow, idle ...)
            self._fail(f"{self.status} {data[start:end][:200]!r}")
            return
        at = data.find(LONGPOLL_MSG, start, end)
        while at >= 0:
            stop = data.find(LONGPOLL_NEXT, at + len(LONGPOLL_MSG), end)
            stop = end if stop < 0 else stop
            self.count += 1
            self.worker.delivered(data, at, stop)
            self.note_seq(lean.json_seq(data, at, stop))
            at = data.find(LONGPOLL_MSG, stop, end) if stop < end else -1
        last = data.rfind(LAST_EVENT_ID, start, end)
        if last >= 0:
            i = j = last + len(LAST_EVENT_ID)
            while j < end and 48 <= data[j] <= 57:
                j += 1
            self.after = int(data[i:j])
        self.poll()

    def _fail(self, why: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(why))
        else:
            self.worker.closes.append({"queue": self.queue, "why": why})  # type: ignore[attr-defined]
        if self.transport is not None:
            self.transport.close()


class TransportWorker(lean.Worker):
    seqs = True

    def __init__(self) -> None:
        super().__init__()
        #: The rooms the next ``open`` asks for on streams and queues.
        self.stream_rooms: list[str] | None = None
        #: What the server said when it ended a stream, a queue or a TCP connection.
        self.closes: list[Any] = []

    def make_conn(self, kind: str) -> lean.Conn:
        if kind == "homer-msgpack":
            return MsgpackConn(self, kind)
        return super().make_conn(kind)

    def upgrade_headers(self, kind: str) -> str:
        return "Sec-WebSocket-Protocol: homer.msgpack\r\n" if kind == "homer-msgpack" else ""

    async def open_one(
        self, kind: str, host: str, port: int, token: str, source: str | None, path: str = "/ws"
    ) -> lean.Conn:
        if kind not in GREETINGS and kind not in ("sse", "longpoll"):
            return await super().open_one(kind, host, port, token, source, path)
        loop = asyncio.get_running_loop()
        sock = await lean.connect_socket(host, port, source)
        conn: lean.Conn
        if kind in GREETINGS:
            conn = TCPConn(self, kind)
        elif kind == "sse":
            conn = SSEConn(self, kind)
        else:
            conn = LongPollConn(self, kind)
        conn.waiter = loop.create_future()
        await loop.create_connection(lambda: conn, sock=sock)
        transport = conn.transport
        assert transport is not None
        rooms = self.stream_rooms
        try:
            if isinstance(conn, TCPConn):
                transport.write(GREETINGS[kind])
                welcome = await conn.request(lean.homer_request("hello", token=token))
                conn.rooms = tuple(room["id"] for room in welcome.get("rooms", ()))
            elif isinstance(conn, SSEConn):
                query = f"?rooms={','.join(rooms)}" if rooms else ""
                transport.write(
                    f"GET /api/events{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
                )
                await conn.waiter  # the ready event
            else:
                assert isinstance(conn, LongPollConn)
                conn.register(host, port, token, rooms)
                await conn.waiter  # registered: polling from now on
        except BaseException:
            if conn.transport is not None:
                conn.transport.abort()
            raise
        return conn

    async def cmd_open(self, rooms: list[str] | None = None, **args: Any) -> dict[str, Any]:  # type: ignore[override]
        self.stream_rooms = rooms
        return await super().cmd_open(**args)

    async def cmd_wait(
        self,
        kind: str,
        room: str,
        expected: int,
        max_seconds: float = 60.0,
        latencies: bool = False,
    ) -> dict[str, Any]:
        """lean.py's ``wait``, lost and extra counted by ``seq``: a member's deliveries
        that moved its last seq are new (``lost`` = what falls short of ``expected``);
        those that did not, and new ones past ``expected``, are ``extra``."""
        members = [c for c in self.conns if c.kind == kind and room in c.rooms]
        target = expected * len(members)
        deadline = _monotonic() + max_seconds
        while self.total < target and _monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)
        got = extra = 0
        for conn in members:
            new = conn.count - conn.dups
            got += min(new, expected)
            extra += conn.dups + max(0, new - expected)
        return {
            "members": len(members),
            "received": self.total,
            "lost": target - got,
            "extra": extra,
            "last_rx": self.last_rx,
            "closed": sum(1 for c in members if c.closed),
            "closes": self.closes[-5:],
            "lat": self.lat if latencies else [],
        }

    async def cmd_chat(
        self, room: str, rate: float, seconds: float, size: int = 100, max_seconds: float = 60.0
    ) -> dict[str, Any]:
        """Every ``homer`` connection sends ``rate`` messages a second to ``room`` for
        ``seconds``, each on its own fixed schedule (staggered across connections),
        whether or not earlier sends were acknowledged; the round trip of each send
        to its ack is returned (seconds)."""
        senders = [c for c in self.conns if c.kind == "homer"]
        per_conn = max(1, round(rate * seconds))
        rtt: list[float] = []
        errors: list[str] = []
        sent = 0
        outstanding: set[asyncio.Future[Any]] = set()
        started = _monotonic() + 0.05

        def acked(future: asyncio.Future[Any], sent: float) -> None:
            outstanding.discard(future)
            if future.cancelled() or future.exception() is not None:
                errors.append(repr(future.exception()))
            else:
                rtt.append(_monotonic() - sent)

        async def one(i: int, conn: lean.Conn) -> None:
            nonlocal sent
            offset = i / (rate * len(senders))
            for k in range(per_conn):
                delay = started + offset + k / rate - _monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if conn.closed:
                    errors.append("connection closed")
                    return
                at = _monotonic()
                future = self._send_one(conn, room, size)
                sent += 1
                outstanding.add(future)
                future.add_done_callback(lambda f, at=at: acked(f, at))

        await asyncio.gather(*(one(i, c) for i, c in enumerate(senders)))
        deadline = _monotonic() + max_seconds
        while outstanding and _monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        return {
            "sent": sent,
            "acked": len(rtt),
            "failed": len(errors) + len(outstanding),
            "errors": errors[:5],
            "rtt": rtt,
            "t0": started,
            "t1": _monotonic(),
        }


if __name__ == "__main__":
    lean.run(TransportWorker)
