"""A bare WebSocket client for tests that need to misbehave on purpose:
stall, send garbage, send oversized frames, cut the connection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
from collections.abc import Sequence
from typing import Any


def client_frame(payload: bytes, opcode: int = 0x1, *, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class RawWebSocket:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        subprotocol: str | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        #: The subprotocol the server chose (its ``Sec-WebSocket-Protocol`` answer).
        self.subprotocol = subprotocol

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        headers: dict[str, str] | None = None,
        receive_buffer: int | None = None,
        protocols: Sequence[str] = (),
    ) -> RawWebSocket:
        """``receive_buffer`` shrinks the socket's kernel buffer (a client that stalls
        then fills the server's queue quickly, instead of megabytes of kernel memory).
        ``protocols`` are the subprotocols to ask for, most preferred first. A refused
        handshake raises ``ConnectionError`` with the server's whole answer."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /ws HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *([f"Sec-WebSocket-Protocol: {', '.join(protocols)}"] if protocols else []),
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status = await reader.readuntil(b"\r\n\r\n")
        if not status.startswith(b"HTTP/1.1 101"):
            body = await reader.read()  # the server closes after its answer
            writer.close()
            await writer.wait_closed()
            raise ConnectionError((status + body).decode(errors="replace"))
        subprotocol = None
        for line in status.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "sec-websocket-protocol":
                subprotocol = value.strip()
        opened = cls(reader, writer, subprotocol)
        OPEN.append(opened)
        return opened

    async def send_json(self, document: Any) -> None:
        self.writer.write(client_frame(json.dumps(document).encode()))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def frame(self) -> tuple[int, bytes]:
        """The next whole frame from the server: (opcode, payload)."""
        first, second = await self.reader.readexactly(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(size)

    async def message(self) -> tuple[int, bytes]:
        """The next data frame, (opcode, payload); a close frame raises."""
        while True:
            opcode, payload = await self.frame()
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise ConnectionResetError(f"closed {code} {payload[2:].decode()}")
            if opcode in (0x1, 0x2):
                return opcode, payload

    async def json(self) -> Any:
        _, payload = await self.message()
        return json.loads(payload)

    async def reply(self, rid: Any) -> Any:
        """Skip events until the reply or error for ``rid``."""
        while True:
            document = await self.json()
            if document.get("rid") == rid:
                return document

    async def close_code(self) -> int | None:
        """Read until the server's close frame; its code."""
        code, _ = await self.close_frame()
        return code

    async def close_frame(self) -> tuple[int | None, str]:
        """Read until the server's close frame; its code and reason."""
        while True:
            opcode, payload = await self.frame()
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, payload[2:].decode()

    def abort(self) -> None:
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


OPEN: list[RawWebSocket] = []
"""Every raw client a test opened; closed after each test by tests/server/conftest.py."""


class RecordedWrites(asyncio.Transport):
    """A server connection's own transport, with each write it is given recorded."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.writes: list[bytes] = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self.inner.write(data)

    def get_write_buffer_size(self) -> int:
        return int(self.inner.get_write_buffer_size())

    def is_closing(self) -> bool:
        return bool(self.inner.is_closing())

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        self.inner.abort()
