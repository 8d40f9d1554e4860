"""The lean client (``bench/clients/lean.py``) with one more protocol: ``plain``.

``plain`` is the minimal broadcast protocol of ``bench/baselines/ws_servers.py``:
open ``/ws``, send ``join``, then count every text frame that starts with
``pub:``. Homer's and Socket.IO's kinds work as in ``lean.py`` (this worker
extends its ``Worker``), so one client process can hold connections to every
server of the ``servers`` scenario.

Commands added to ``lean.py``'s (JSON lines over stdin/stdout, same framing):

* ``open`` takes ``label``: the connections it opens are filed under it;
  ``drop(label)`` aborts those connections and forgets them.
* ``plain_publish(label, count, window, size)``: from the first connection
  under ``label`` (one that joined), ``count`` texts of ``size`` bytes, at most
  ``window`` of them not yet seen back from the server.
"""

from __future__ import annotations

import asyncio
import base64
import random
import socket
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clients"))

import lean

PUB = b"pub:"


class PlainConn(asyncio.Protocol):
    """One ``plain`` connection: the same counters as ``lean.Conn``, a tiny protocol."""

    __slots__ = (
        "buf",
        "closed",
        "count",
        "dups",
        "handshaken",
        "kind",
        "rooms",
        "transport",
        "waiter",
        "wake",
        "worker",
    )

    def __init__(self, worker: lean.Worker) -> None:
        self.worker = worker
        self.kind = "plain"
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.handshaken = False
        self.closed = False
        self.count = 0
        #: Deliveries seen twice (kept for the worker's counters; not checked here).
        self.dups = 0
        self.rooms: tuple[str, ...] = ()
        self.waiter: asyncio.Future[None] | None = None
        #: Set by a publisher waiting for its own messages to come back.
        self.wake: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        error = ConnectionError(f"connection lost: {exc!r}")
        for future in (self.waiter, self.wake):
            if future is not None and not future.done():
                future.set_exception(error)
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
            if waiter is not None and not waiter.done():
                if head.startswith(b"HTTP/1.1 101"):
                    waiter.set_result(None)
                else:
                    waiter.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
                    return
        n = len(data)
        pos = 0
        counted = False
        while n - pos >= 2:
            if data[pos + 1] & 0x80:  # a server never masks: count nothing more
                print("plain: a masked frame from the server", file=sys.stderr, flush=True)
                if self.transport is not None:
                    self.transport.abort()
                return
            length = data[pos + 1]
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
            if opcode == 1 and data.startswith(PUB, start, end):
                self.count += 1
                counted = True
                self.worker.delivered(data, start, end)
            elif opcode == 9 and self.transport is not None:
                self.transport.write(lean.masked_frame(data[start:end], 0xA))
            elif opcode == 8 and self.transport is not None:
                self.transport.write(lean.masked_frame(data[start : start + 2], 0x8))
                self.transport.close()
            pos = end
        if pos < n:
            self.buf = data[pos:]
        wake = self.wake
        if counted and wake is not None and not wake.done():
            wake.set_result(None)


class PlainWorker(lean.Worker):
    def __init__(self) -> None:
        super().__init__()
        self.labels: dict[str, list[Any]] = {}

    async def open_one(
        self, kind: str, host: str, port: int, token: str, source: str | None, path: str = "/ws"
    ) -> Any:
        if kind != "plain":
            return await super().open_one(kind, host, port, token, source, path)
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if source:
                sock.bind((source, 0))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        key = base64.b64encode(random.randbytes(16)).decode()
        upgrade = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        return await lean.greeted(PlainConn(self), sock, upgrade.encode())  # the 101

    async def join(self, conn: Any, rooms: list[str]) -> None:
        if conn.kind != "plain":
            await super().join(conn, rooms)
            return
        # No answer in this protocol: the first delivery shows the join took.
        assert conn.transport is not None
        conn.transport.write(lean.masked_frame(b"join"))
        conn.rooms = conn.rooms + tuple(rooms)

    async def cmd_open(self, label: str = "", **args: Any) -> dict[str, Any]:  # type: ignore[override]
        result = await super().cmd_open(**args)
        first = result["first"]
        self.labels.setdefault(label, []).extend(self.conns[first : first + result["opened"]])
        return result

    def cmd_close(self) -> dict[str, Any]:
        self.labels.clear()
        return super().cmd_close()

    def cmd_drop(self, label: str) -> dict[str, Any]:
        dropped = self.labels.pop(label, [])
        gone = {id(conn) for conn in dropped}
        for conn in dropped:
            if conn.transport is not None:
                conn.transport.abort()
        self.conns = [conn for conn in self.conns if id(conn) not in gone]
        return {"dropped": len(dropped)}

    async def cmd_plain_publish(
        self, label: str, count: int, window: int = 50, size: int = 100, max_seconds: float = 60.0
    ) -> dict[str, Any]:
        conn = self.labels[label][0]
        if conn.kind != "plain" or not conn.rooms:
            raise ValueError(f"{label}: the publisher must be a plain connection that joined")
        payload = PUB + b"x" * max(0, size - len(PUB))
        loop = asyncio.get_running_loop()
        base = conn.count
        sent = 0
        started = lean._monotonic()
        deadline = started + max_seconds
        while conn.count - base < count:
            while sent < count and sent - (conn.count - base) < window:
                conn.transport.write(lean.masked_frame(payload))
                sent += 1
            left = deadline - lean._monotonic()
            if left <= 0:
                raise TimeoutError(f"{label}: {conn.count - base} of {count} came back")
            conn.wake = loop.create_future()
            try:
                await asyncio.wait_for(conn.wake, left)
            except TimeoutError:
                continue
        return {"t0": started, "t1": lean._monotonic(), "sent": sent, "failed": 0, "errors": []}


if __name__ == "__main__":
    lean.run(PlainWorker)
