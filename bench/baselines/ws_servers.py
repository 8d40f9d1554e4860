"""One minimal broadcast server, on the WebSocket stack named by ``--stack``.

``python bench/baselines/ws_servers.py --stack NAME [--host H] [--port 0] [--no-uvloop]``
prints ``listening <port>`` once it accepts connections and runs until SIGTERM.

The protocol is the same on every stack: a client opens ``/ws`` and sends one
text frame ``join``; from then on every text frame that starts with ``pub:``,
from any connection, is sent to every joined connection, unchanged, as an
unmasked text frame. Nothing else: no authentication, no storage, no
acknowledgement (a publisher that joined sees its own messages come back).

Stacks (``STACKS``):

* ``aiohttp-send_str``: ``web.WebSocketResponse``, the idiomatic
  ``for ws in room: await ws.send_str(text)``.
* ``aiohttp-send_frame``: the text encoded once, then ``await ws.send_frame(data,
  TEXT)`` per member. ``send_str`` cannot be called without ``await``: it is a
  coroutine function, and an un-awaited coroutine never runs; the per-member
  coroutine stays, only the per-member encoding goes.
* ``aiohttp-transport``: aiohttp for the handshake and the reading; the frame
  built once and written with ``request.transport.write`` to every member, no
  coroutine per member (what Homer's aiohttp fallback does).
* ``websockets``: the ``websockets`` library's new asyncio implementation,
  ``websockets.asyncio.server.serve`` and ``broadcast(room, text)``.
* ``asyncio-protocol``: a bare ``asyncio.Protocol``: the upgrade request read by
  hand, client frames unmasked, one pre-encoded frame written to every member.
* ``picows``: ``picows.ws_create_server`` and a ``WSListener``;
  ``transport.send(TEXT, payload)`` per member (picows frames it in C).

Library defaults everywhere else (websockets keeps its keepalive pings,
aiohttp and picows have none by default), and uvloop unless ``--no-uvloop``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from procutil import serve_forever

STACKS = [
    "aiohttp-send_str",
    "aiohttp-send_frame",
    "aiohttp-transport",
    "websockets",
    "asyncio-protocol",
    "picows",
]

JOIN = "join"
PUB = "pub:"
#: Serves until ``stop`` is set, then stops listening; returns the bound port first.
Serve = Callable[[str, int, asyncio.Event, Callable[[int], None]], Awaitable[None]]


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (what a server sends)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


# -- aiohttp ----------------------------------------------------------------------------


async def serve_aiohttp(
    variant: str, host: str, port: int, stop: asyncio.Event, ready: Callable[[int], None]
) -> None:
    from aiohttp import WSMsgType, web

    room: set[Any] = set()

    async def send_str(text: str) -> None:
        for ws in list(room):  # a copy: the set may change while a send awaits
            await ws.send_str(text)

    async def send_frame(text: str) -> None:
        data = text.encode()
        for ws in list(room):
            await ws.send_frame(data, WSMsgType.TEXT)

    async def write(text: str) -> None:
        frame = text_frame(text.encode())
        for transport in room:
            transport.write(frame)

    broadcast = {"send_str": send_str, "send_frame": send_frame, "transport": write}[variant]

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        member = request.transport if variant == "transport" else ws
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    text = message.data
                    if text == JOIN:
                        room.add(member)
                    elif text.startswith(PUB):
                        await broadcast(text)
        finally:
            room.discard(member)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
    await site.start()
    ready(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await stop.wait()
    # No goodbye to every socket (aiohttp takes seconds for that with thousands
    # open): stop listening and exit; the kernel closes the rest.
    await site.stop()


# -- websockets ---------------------------------------------------------------------------


async def serve_websockets(
    host: str, port: int, stop: asyncio.Event, ready: Callable[[int], None]
) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    room: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        try:
            async for message in ws:
                if message == JOIN:
                    room.add(ws)
                elif isinstance(message, str) and message.startswith(PUB):
                    broadcast(room, message)
        finally:
            room.discard(ws)

    server = await serve(handler, host, port, backlog=4096)
    ready(next(iter(server.sockets)).getsockname()[1])
    await stop.wait()
    # Not ``async with``: leaving it waits for every handler to return, which an
    # open connection's never does. Stop listening; exiting cancels the rest.
    server.close(close_connections=False)


# -- a bare asyncio.Protocol --------------------------------------------------------------

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BarePeer(asyncio.Protocol):
    """Reads the upgrade request, then client frames (masked, final, small): no more."""

    __slots__ = ("buf", "room", "transport", "upgraded")

    def __init__(self, room: set[BarePeer]) -> None:
        self.room = room
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.room.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > 8192:
                    transport.abort()
                else:
                    self.buf = data
                return
            key = None
            head = data[:end].split(b"\r\n")
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            if key is None or not head[0].startswith(b"GET /ws "):
                transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                transport.close()
                return
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.upgraded = True
            data = data[end + 4 :]
        n = len(data)
        pos = 0
        while n - pos >= 6:
            first, length = data[pos], data[pos + 1] & 127
            if first & 0x80 == 0 or data[pos + 1] & 0x80 == 0:
                transport.abort()  # fragmented or unmasked: not in this protocol
                return
            if length < 126:
                start = pos + 2
            elif length == 126:
                if n - pos < 8:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 4
            else:
                if n - pos < 14:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + 4 + length
            if end > n:
                break
            key = data[start : start + 4]
            stream = int.from_bytes((key * (length // 4 + 1))[:length], "big")
            payload = (int.from_bytes(data[start + 4 : end], "big") ^ stream).to_bytes(
                length, "big"
            )
            opcode = first & 15
            if opcode == 1:
                if payload == b"join":
                    self.room.add(self)
                elif payload.startswith(b"pub:"):
                    frame = text_frame(payload)
                    for peer in self.room:
                        peer.transport.write(frame)  # type: ignore[union-attr]
            elif opcode == 9:
                transport.write(bytes((0x8A, length)) + payload)
            elif opcode == 8:
                transport.write(bytes((0x88, min(length, 2))) + payload[:2])
                transport.close()
                return
            pos = end
        if pos < n:
            self.buf = data[pos:]


async def serve_bare(
    host: str, port: int, stop: asyncio.Event, ready: Callable[[int], None]
) -> None:
    room: set[BarePeer] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: BarePeer(room), host, port, backlog=4096)
    ready(server.sockets[0].getsockname()[1])
    await stop.wait()
    server.close()


# -- picows --------------------------------------------------------------------------------


async def serve_picows(
    host: str, port: int, stop: asyncio.Event, ready: Callable[[int], None]
) -> None:
    from picows import (
        WSFrame,
        WSListener,
        WSMsgType,
        WSTransport,
        WSUpgradeRequest,
        ws_create_server,
    )

    room: set[WSTransport] = set()

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                payload = frame.get_payload_as_bytes()
                if payload == b"join":
                    room.add(transport)
                elif payload.startswith(b"pub:"):
                    for member in room:
                        member.send(WSMsgType.TEXT, payload)
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            room.discard(transport)

    def route(request: WSUpgradeRequest) -> Listener | None:
        return Listener() if request.path == b"/ws" else None

    server = await ws_create_server(route, host, port, backlog=4096)
    ready(server.sockets[0].getsockname()[1])
    await stop.wait()
    server.close()


# -- running ---------------------------------------------------------------------------------


def server_for(stack: str) -> Serve:
    if stack.startswith("aiohttp-"):
        variant = stack.removeprefix("aiohttp-")
        return lambda *args: serve_aiohttp(variant, *args)
    return {
        "websockets": serve_websockets,
        "asyncio-protocol": serve_bare,
        "picows": serve_picows,
    }[stack]


async def serve(stack: str, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server_for(stack)(host, port, stop, lambda bound: print(f"listening {bound}", flush=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, choices=STACKS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    serve_forever(serve(args.stack, args.host, args.port), uvloop=not args.no_uvloop)
    sys.exit(0)


if __name__ == "__main__":
    main()
