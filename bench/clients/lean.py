"""A lean load-generating client process: many WebSocket connections, one event loop.

Speaks two protocols over the same hand-written RFC 6455 client code:

* ``homer``: Homer's JSON envelopes at ``/ws``, or the ``path`` given to ``open``
  (hello with a token, join, send).
* ``sio``: Engine.IO v4 / Socket.IO v5 over a WebSocket (``/socket.io/?EIO=4&transport=websocket``):
  ``0{...}`` open, ``40{auth}`` connect, ``42[...]`` events, ``42<id>[...]`` / ``43<id>[...]``
  acks, ``2`` ping answered with ``3``.

Client frames are masked (random key per frame), server frames are parsed
unmasked; a delivery is a text frame that starts with ``{"op":"msg"`` (Homer) or
``42["msg"`` (Socket.IO). When asked, the send timestamp carried in the text
(``@@<monotonic seconds>@@``) is read back for latency.

It is driven by the benchmark over stdin/stdout: one JSON command per line in,
one JSON answer per line out (see ``Worker.handle``). Other client scripts
extend ``Worker`` with more kinds of connection (``make_conn``,
``upgrade_headers``, ``open_one``; ``bench/clients/transports.py``,
``bench/baselines/plain_client.py``, ``bench/clients/mqtt.py``); with
``Worker.seqs`` each connection also checks the ``seq`` of every delivery
(``Conn.note_seq``). ``pairs`` drives rooms of two whose members both send,
and checks every message at both members (``Pairs``). No aiohttp, no
python-socketio: a connection is one small ``asyncio.Protocol`` object, so a
few thousand of them cost the client side little CPU.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import resource
import socket
import sys
import time
from typing import Any

import msgspec

MSG_HOMER = b'{"op":"msg"'
REPLY_HOMER = b'{"op":"reply"'
ERROR_HOMER = b'{"op":"error"'
MSG_SIO = b'42["msg"'
STAMP = b"@@"
SEQ_JSON = b'"seq":'
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

_decode = msgspec.json.decode
_encode = msgspec.json.encode
_getrandbits = random.getrandbits
_monotonic = time.monotonic


def json_seq(data: bytes, start: int, end: int) -> int:
    """The ``seq`` of a JSON delivery in ``data[start:end]`` (Homer's envelope or the
    baseline's event): the digits after the first ``"seq":``; -1 if there is none."""
    i = data.find(SEQ_JSON, start, end)
    if i < 0:
        return -1
    i += len(SEQ_JSON)
    while i < end and data[i] == 32:  # json.dumps puts a space after the colon
        i += 1
    j = i
    while j < end and 48 <= data[j] <= 57:
        j += 1
    return int(data[i:j]) if j > i else -1


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A final client frame: masked with a fresh random key, as RFC 6455 requires."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        head = bytes((first, 0x80 | n))
    elif n < 65536:
        head = bytes((first, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 0xFF)) + n.to_bytes(8, "big")
    key = _getrandbits(32).to_bytes(4, "big")
    if n == 0:
        return head + key
    stream = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return head + key + (int.from_bytes(payload, "big") ^ stream).to_bytes(n, "big")


class Conn(asyncio.Protocol):
    """One client connection; ``kind`` is ``homer`` or ``sio``."""

    __slots__ = (
        "buf",
        "closed",
        "count",
        "dups",
        "handshaken",
        "kind",
        "last_seq",
        "pending",
        "rid",
        "rooms",
        "transport",
        "waiter",
        "worker",
    )

    def __init__(self, worker: Worker, kind: str) -> None:
        self.worker = worker
        self.kind = kind
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.handshaken = False
        self.closed = False
        self.count = 0
        #: With ``Worker.seqs``: the highest ``seq`` received, and the deliveries that
        #: did not move it (a duplicate, or one out of order).
        self.last_seq = 0
        self.dups = 0
        self.rid = 0
        self.rooms: tuple[str, ...] = ()
        #: Request id -> future of its answer (bytes of the reply / ack payload).
        self.pending: dict[int, asyncio.Future[Any]] = {}
        #: Waits for the HTTP 101 (homer) or the namespace connect (sio).
        self.waiter: asyncio.Future[Any] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        error = ConnectionError(f"connection lost: {exc!r}")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()
        self.worker.lost += 1

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.handshaken:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            head = data[:end]
            data = data[end + 4 :]
            self.handshaken = True
            waiter = self.waiter
            if not head.startswith(b"HTTP/1.1 101"):
                if waiter is not None and not waiter.done():
                    waiter.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
                return
            if self.kind != "sio" and waiter is not None and not waiter.done():
                waiter.set_result(None)
        n = len(data)
        pos = 0
        homer = self.kind != "sio"
        while n - pos >= 2:
            length = data[pos + 1] & 127
            if length < 126:
                start = pos + 2
            elif length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 4
            else:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > n:
                break
            opcode = data[pos] & 15
            if opcode == 1:
                if homer:
                    if data.startswith(MSG_HOMER, start, end):
                        self.count += 1
                        self.worker.delivered(data, start, end, self)
                        if self.worker.seqs:
                            self.note_seq(json_seq(data, start, end))
                    else:
                        self._homer_text(data[start:end])
                elif data.startswith(MSG_SIO, start, end):
                    self.count += 1
                    self.worker.delivered(data, start, end, self)
                    if self.worker.seqs:
                        self.note_seq(json_seq(data, start, end))
                else:
                    self._sio_text(data[start:end])
            elif opcode == 2:
                self.binary(data, start, end)
            elif opcode == 9 and self.transport is not None:
                self.transport.write(masked_frame(data[start:end], 0xA))
            elif opcode == 8 and self.transport is not None:
                self.transport.write(masked_frame(data[start : start + 2], 0x8))
                self.transport.close()
            pos = end
        if pos < n:
            self.buf = data[pos:]

    # -- protocol details ---------------------------------------------------------------

    def note_seq(self, seq: int) -> None:
        """Count a delivery's ``seq``: new if past the last one, else a duplicate (so is
        a delivery without one: -1)."""
        if seq > self.last_seq:
            self.last_seq = seq
        else:
            self.dups += 1

    def binary(self, data: bytes, start: int, end: int) -> None:
        """A binary message in ``data[start:end]``: a subclass's codec (none here)."""

    def _homer_text(self, payload: bytes) -> None:
        if payload.startswith((REPLY_HOMER, ERROR_HOMER)):
            self.answer(_decode(payload))

    def answer(self, document: dict[str, Any]) -> None:
        """A Homer ``reply`` or ``error``: settle the request it answers."""
        future = self.pending.pop(document.get("rid"), None)
        if future is not None and not future.done():
            if document["op"] == "reply":
                future.set_result(document.get("body"))
            else:
                future.set_exception(RequestFailed(document.get("body")))

    def _sio_text(self, payload: bytes) -> None:
        if payload == b"2":
            self.write(b"3")
            return
        if payload.startswith(b"43"):
            i = 2
            while i < len(payload) and 48 <= payload[i] <= 57:
                i += 1
            future = self.pending.pop(int(payload[2:i]), None)
            if future is not None and not future.done():
                future.set_result(payload[i:])
        elif payload.startswith(b"0{"):
            self.write(self.worker.sio_connect_packet(self))
        elif self.waiter is None or self.waiter.done():
            pass
        elif payload.startswith(b"40"):
            self.waiter.set_result(None)
        elif payload.startswith(b"44"):
            self.waiter.set_exception(RequestFailed(payload.decode()))

    def write(self, payload: bytes) -> None:
        if self.transport is not None:
            self.transport.write(masked_frame(payload))

    def request(self, make: Any) -> asyncio.Future[Any]:
        """Send ``make(rid)`` and return the future of its answer."""
        self.rid += 1
        rid = self.rid
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[rid] = future
        self.write(make(rid))
        return future


class RequestFailed(Exception):
    pass


def homer_request(op: str, **fields: Any) -> Any:
    def make(rid: int) -> bytes:
        return _encode({"op": op, "rid": rid, **fields})

    return make


def sio_event(event: str, data: Any) -> Any:
    body = _encode([event, data])

    def make(rid: int) -> bytes:
        return b"42%d%s" % (rid, body)

    return make


def stamped_text(size: int, mark: str = "") -> str:
    """``size`` characters: the send time between ``@@``s, then ``mark``, then padding."""
    text = f"@@{_monotonic():.6f}@@{mark}"
    return text + "x" * max(0, size - len(text))


async def connect_socket(host: str, port: int, source: str | None) -> socket.socket:
    """A connected non-blocking TCP socket (no Nagle), bound to ``source`` if given."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if source:
            sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def greeted(conn: Any, sock: socket.socket, greeting: bytes) -> Any:
    """``conn`` on the connected ``sock``: send ``greeting`` and wait for ``conn.waiter``
    (which its protocol settles on the server's answer); abort the connection if that
    fails."""
    loop = asyncio.get_running_loop()
    conn.waiter = loop.create_future()
    await loop.create_connection(lambda: conn, sock=sock)
    conn.transport.write(greeting)
    try:
        await conn.waiter
    except BaseException:
        if conn.transport is not None:
            conn.transport.abort()
        raise
    return conn


class Pairs:
    """What a ``pairs`` run received, message by message. Connection ``k`` and its
    partner ``k ^ 1`` share a room; message ``n`` of ``k`` carries ``k:n;`` after its
    send time and must reach ``k`` once (the echo: every system here sends a room's
    message to its sender too) and ``k ^ 1`` once. Latency: send -> the partner's
    receipt."""

    __slots__ = ("echo", "index", "lat", "latency", "peer", "received", "stray")

    def __init__(self, conns: list[Conn], count: int, latency: bool) -> None:
        self.index = {id(conn): k for k, conn in enumerate(conns)}
        #: ``echo[k][n]``: receipts of ``k``'s message ``n`` at ``k``; ``peer[k][n]``: at ``k ^ 1``.
        self.echo = [bytearray(count) for _ in conns]
        self.peer = [bytearray(count) for _ in conns]
        #: Deliveries that belong to no expected message, or to one already seen 255 times.
        self.stray = 0
        self.received = 0
        self.latency = latency
        self.lat: list[float] = []

    def note(self, conn: Any, data: bytes, start: int, end: int, now: float) -> None:
        me = self.index.get(id(conn), -1)
        i = data.find(STAMP, start, end)
        j = data.find(STAMP, i + 2, end) if i >= 0 else -1
        colon = data.find(b":", j + 2, end) if j >= 0 else -1
        stop = data.find(b";", colon + 1, end) if colon >= 0 else -1
        if me < 0 or stop < 0:
            self.stray += 1
            return
        k = int(data[j + 2 : colon])
        n = int(data[colon + 1 : stop])
        if k == me:
            got = self.echo[k]
        elif k == me ^ 1:
            got = self.peer[k]
            if self.latency:
                self.lat.append(now - float(data[i + 2 : j]))
        else:
            self.stray += 1
            return
        if n >= len(got) or got[n] == 255:
            self.stray += 1
            return
        got[n] += 1
        self.received += 1

    def lost(self) -> int:
        """Expected receipts that never came."""
        return sum(got.count(0) for got in self.echo + self.peer)

    def duplicates(self) -> int:
        """Receipts beyond the first of a message at a member, and strays."""
        seen = self.echo + self.peer
        return self.stray + sum(sum(got) - (len(got) - got.count(0)) for got in seen)


class Worker:
    #: Whether connections check the ``seq`` of every delivery (``Conn.note_seq``).
    seqs = False

    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.lost = 0
        self.total = 0
        self.last_rx = 0.0
        self.latency = False
        self.lat: list[float] = []
        #: With ``reset(stamps=True)``: the send time of each latency sample (diagnosis).
        self.stamps: list[float] | None = None
        self.tokens: dict[int, str] = {}
        #: During a ``pairs`` run: what each message's receivers got.
        self.pairs: Pairs | None = None
        self.counter = 0
        self.prefix = f"{os.getpid()}-{_getrandbits(24):x}"

    # -- receiving -------------------------------------------------------------------

    def delivered(self, data: bytes, start: int, end: int, conn: Any = None) -> None:
        """A delivery in ``data[start:end]``, received by ``conn`` (where it is known)."""
        self.total += 1
        now = _monotonic()
        self.last_rx = now
        if self.pairs is not None:
            self.pairs.note(conn, data, start, end, now)
        elif self.latency:
            i = data.find(STAMP, start, end)
            if i >= 0:
                j = data.find(STAMP, i + 2, end)
                if j > 0:
                    sent = float(data[i + 2 : j])
                    self.lat.append(now - sent)
                    if self.stamps is not None:
                        self.stamps.append(sent)

    def sio_connect_packet(self, conn: Conn) -> bytes:
        token = self.tokens.pop(id(conn), "")
        return b"40" + _encode({"token": token})

    # -- opening ---------------------------------------------------------------------

    def make_conn(self, kind: str) -> Conn:
        """The connection object for ``kind`` (a subclass may add kinds)."""
        return Conn(self, kind)

    def upgrade_headers(self, kind: str) -> str:
        """Extra header lines (each ending in CRLF) for the WebSocket upgrade of ``kind``."""
        return ""

    async def open_one(
        self, kind: str, host: str, port: int, token: str, source: str | None, path: str = "/ws"
    ) -> Conn:
        """One connection of ``kind``, authenticated; ``path``: where Homer's WebSocket
        is (``/ws`` on ``homer serve``, under the mount point in an ASGI host)."""
        loop = asyncio.get_running_loop()
        sock = await connect_socket(host, port, source)
        conn = self.make_conn(kind)
        conn.waiter = loop.create_future()
        await loop.create_connection(lambda: conn, sock=sock)
        key = base64.b64encode(random.randbytes(16)).decode()
        if kind == "sio":
            path = "/socket.io/?EIO=4&transport=websocket"
            self.tokens[id(conn)] = token
        assert conn.transport is not None
        conn.transport.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{self.upgrade_headers(kind)}\r\n"
            ).encode()
        )
        try:
            await conn.waiter  # homer: the 101; sio: the namespace connect (after auth)
            if kind != "sio":
                welcome = await conn.request(homer_request("hello", token=token))
                conn.rooms = tuple(room["id"] for room in welcome.get("rooms", ()))
        except BaseException:
            if conn.transport is not None:
                conn.transport.abort()
            raise
        return conn

    async def join(self, conn: Conn, rooms: list[str]) -> None:
        for room in rooms:
            if conn.kind != "sio":
                await conn.request(homer_request("join", room=room))
            else:
                await conn.request(sio_event("join", {"room": room}))
        conn.rooms = conn.rooms + tuple(rooms)

    async def cmd_open(
        self,
        kind: str,
        host: str,
        port: int,
        tokens: list[str],
        joins: list[list[str]] | None = None,
        sources: list[str] | None = None,
        concurrency: int = 64,
        max_seconds: float = 120.0,
        path: str = "/ws",
    ) -> dict[str, Any]:
        """Open one connection per token (authenticated), then join its rooms; Homer's
        WebSocket is at ``path``."""
        semaphore = asyncio.Semaphore(concurrency)
        errors: list[str] = []
        opened: list[Conn | None] = [None] * len(tokens)

        async def one(i: int) -> None:
            async with semaphore:
                source = sources[i % len(sources)] if sources else None
                for attempt in range(3):
                    try:
                        conn = await self.open_one(kind, host, port, tokens[i], source, path)
                        if joins and joins[i]:
                            await self.join(conn, joins[i])
                    except (OSError, RequestFailed) as exc:
                        if attempt == 2:
                            errors.append(repr(exc))
                            return
                        await asyncio.sleep(0.05 * (attempt + 1))
                    else:
                        opened[i] = conn
                        return

        started = _monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(len(tokens)))), max_seconds)
        elapsed = _monotonic() - started
        first = len(self.conns)
        self.conns += [c for c in opened if c is not None]
        return {
            "opened": len(self.conns) - first,
            "first": first,
            "failed": len(errors),
            "errors": errors[:5],
            "elapsed": elapsed,
        }

    async def cmd_join(
        self, rooms: list[list[str]], first: int = 0, concurrency: int = 64
    ) -> dict[str, Any]:
        """Connection ``first + i`` joins ``rooms[i]``."""
        semaphore = asyncio.Semaphore(concurrency)
        errors: list[str] = []

        async def one(i: int) -> None:
            async with semaphore:
                try:
                    await self.join(self.conns[first + i], rooms[i])
                except (OSError, RequestFailed) as exc:
                    errors.append(repr(exc))

        started = _monotonic()
        await asyncio.gather(*(one(i) for i in range(len(rooms))))
        return {"failed": len(errors), "errors": errors[:5], "elapsed": _monotonic() - started}

    # -- counting --------------------------------------------------------------------

    def cmd_reset(self, latency: bool = False, stamps: bool = False) -> dict[str, Any]:
        for conn in self.conns:
            conn.count = 0
            conn.dups = 0
        self.total = 0
        self.last_rx = 0.0
        self.latency = latency
        self.lat = []
        self.stamps = [] if stamps else None
        return {"conns": len(self.conns), "lost_conns": self.lost}

    async def cmd_wait(
        self,
        kind: str,
        room: str,
        expected: int,
        max_seconds: float = 60.0,
        latencies: bool = False,
    ) -> dict[str, Any]:
        """Wait until every ``kind`` connection here in ``room`` got ``expected`` deliveries."""
        members = [c for c in self.conns if c.kind == kind and room in c.rooms]
        target = expected * len(members)
        deadline = _monotonic() + max_seconds
        # Polling keeps the per-delivery path free of any check; 5 ms is fine-grained
        # enough, as receipt times are stamped as they happen.
        while self.total < target and _monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)
        got = sum(min(c.count, expected) for c in members)
        return {
            "members": len(members),
            "received": self.total,
            "lost": target - got,
            "extra": self.total - got,
            "last_rx": self.last_rx,
            "closed": sum(1 for c in members if c.closed),
            "lat": self.lat if latencies else [],
            "stamps": self.stamps if latencies and self.stamps is not None else [],
        }

    # -- sending ---------------------------------------------------------------------

    def _send_one(self, conn: Conn, room: str, size: int, mark: str = "") -> asyncio.Future[Any]:
        """Send a stamped text of ``size`` to ``room``; the future of its ack."""
        text = stamped_text(size, mark)
        if conn.kind != "sio":
            self.counter += 1
            return conn.request(
                homer_request("send", room=room, cid=f"{self.prefix}-{self.counter}", text=text)
            )
        return conn.request(sio_event("send", {"room": room, "text": text}))

    async def cmd_publish(
        self,
        room: str,
        count: int,
        window: int = 50,
        rate: float | None = None,
        size: int = 100,
        conn: int = 0,
        max_seconds: float = 120.0,
        react: bool = False,
    ) -> dict[str, Any]:
        """From connection ``conn``: ``count`` sends to ``room``, at most ``window``
        unacknowledged; ``rate`` (messages/s) paces them, else as fast as acks allow.
        With ``react`` (Homer only): one message, then ``count`` reactions to it,
        ``react`` and ``unreact`` in turn (``count`` + 1 deliveries to each member)."""
        publisher = self.conns[conn]
        target = None
        if react:
            target = (await self._send_one(publisher, room, size))["seq"]
        semaphore = asyncio.Semaphore(window)
        errors: list[str] = []
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        outstanding = 0
        sent = 0

        def acked(future: asyncio.Future[Any]) -> None:
            nonlocal outstanding
            outstanding -= 1
            semaphore.release()
            if future.cancelled() or future.exception() is not None:
                errors.append(repr(future.exception()))
            if sent == count and outstanding == 0 and not done.done():
                done.set_result(None)

        started = _monotonic()
        for i in range(count):
            if rate:
                delay = started + i / rate - _monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await semaphore.acquire()
            outstanding += 1
            sent += 1
            if target is None:
                self._send_one(publisher, room, size).add_done_callback(acked)
            else:
                op = "react" if i % 2 == 0 else "unreact"
                request = homer_request(op, room=room, seq=target, key=":bench:")
                publisher.request(request).add_done_callback(acked)
        if outstanding:
            await asyncio.wait_for(done, max_seconds)
        return {
            "t0": started,
            "t1": _monotonic(),
            "sent": sent,
            "errors": errors[:5],
            "failed": len(errors),
        }

    async def cmd_sendloop(
        self, rooms: list[str], count: int, size: int = 100, max_seconds: float = 120.0
    ) -> dict[str, Any]:
        """Connection i sends ``count`` messages to ``rooms[i]``, one outstanding at a time."""
        errors: list[str] = []

        async def loop_one(conn: Conn, room: str) -> None:
            for _ in range(count):
                try:
                    await self._send_one(conn, room, size)
                except (OSError, RequestFailed) as exc:
                    errors.append(repr(exc))

        started = _monotonic()
        await asyncio.wait_for(
            asyncio.gather(*(loop_one(c, r) for c, r in zip(self.conns, rooms, strict=False))),
            max_seconds,
        )
        return {
            "t0": started,
            "t1": _monotonic(),
            "acks": count * min(len(rooms), len(self.conns)) - len(errors),
            "failed": len(errors),
            "errors": errors[:5],
        }

    async def cmd_pairs(
        self,
        rooms: list[str],
        count: int,
        first: int = 0,
        rate: float | None = None,
        window: int = 8,
        latency: bool = False,
        size: int = 100,
        max_seconds: float = 120.0,
    ) -> dict[str, Any]:
        """Rooms of two: connections ``first + 2r`` and ``first + 2r + 1`` are the members
        of ``rooms[r]``, and each sends it ``count`` messages. With ``rate`` (messages/s
        from this process) the sends are paced, taking the connections in turn; without,
        each room keeps ``window`` messages unacknowledged, its members taking turns.
        Then wait until every message reached both members (the sender's echo and its
        partner; checked message by message, see :class:`Pairs`)."""
        conns = self.conns[first : first + 2 * len(rooms)]
        if len(conns) != 2 * len(rooms):
            raise ValueError(f"{len(rooms)} rooms need {2 * len(rooms)} connections")
        pairs = self.pairs = Pairs(conns, count, latency)
        self.last_rx = 0.0
        done = asyncio.get_running_loop().create_future()
        total = len(conns) * count
        errors: list[str] = []
        answered = 0
        last_ack = 0.0

        def acked(future: asyncio.Future[Any]) -> None:
            nonlocal answered, last_ack
            answered += 1
            last_ack = _monotonic()
            if future.cancelled() or future.exception() is not None:
                errors.append(repr(future.exception()))
            if answered == total and not done.done():
                done.set_result(None)

        def send(k: int, n: int) -> asyncio.Future[Any]:
            return self._send_one(conns[k], rooms[k >> 1], size, f"{k}:{n};")

        in_flight = [0] * len(rooms)
        sent = [0] * len(rooms)

        def pump(r: int) -> None:
            while in_flight[r] < window and sent[r] < 2 * count:
                m = sent[r]
                sent[r] = m + 1
                in_flight[r] += 1
                send(2 * r + (m & 1), m >> 1).add_done_callback(lambda f, r=r: room_acked(r, f))

        def room_acked(r: int, future: asyncio.Future[Any]) -> None:
            in_flight[r] -= 1
            acked(future)
            pump(r)

        started = _monotonic()
        try:
            if rate:
                for i in range(total):
                    delay = started + i / rate - _monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    send(i % len(conns), i // len(conns)).add_done_callback(acked)
            else:
                for r in range(len(rooms)):
                    pump(r)
            if total:
                await asyncio.wait_for(done, max_seconds)
            deadline = _monotonic() + max_seconds
            while pairs.received < 2 * total and _monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            await asyncio.sleep(0)
        finally:
            self.pairs = None
        return {
            "t0": started,
            "t_acked": last_ack,
            "last_rx": self.last_rx,
            "acks": answered - len(errors),
            "failed": len(errors),
            "errors": errors[:5],
            "lost": pairs.lost(),
            "duplicates": pairs.duplicates(),
            "lat": pairs.lat,
        }

    def cmd_close(self) -> dict[str, Any]:
        closed = 0
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.abort()
                closed += 1
        self.conns = []
        self.lost = 0
        return {"closed": closed}

    async def handle(self, command: dict[str, Any]) -> Any:
        name = command.pop("cmd")
        if name == "exit":
            raise SystemExit(0)
        result = getattr(self, f"cmd_{name}")(**command)
        if asyncio.iscoroutine(result):
            result = await result
        return result


async def main(worker_class: type[Worker] | None = None) -> None:
    """Serve commands from stdin, one JSON line each, answers on stdout."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout
    worker = (worker_class or Worker)()
    out.write(json.dumps({"ok": True, "result": {"pid": os.getpid()}}) + "\n")
    out.flush()
    while True:
        line = await reader.readline()
        if not line:
            return
        try:
            result = await worker.handle(json.loads(line))
            answer = {"ok": True, "result": result}
        except SystemExit:
            worker.cmd_close()
            return
        except Exception as exc:  # report it: the benchmark decides
            answer = {"ok": False, "error": repr(exc)}
        out.write(json.dumps(answer) + "\n")
        out.flush()


def run(worker_class: type[Worker] | None = None) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(worker_class))
    else:
        uvloop.run(main(worker_class))


if __name__ == "__main__":
    run()
