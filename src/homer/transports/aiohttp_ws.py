"""WebSocket through aiohttp, for an upgrade on a connection that already
carried HTTP requests (a pooled client that logs in, then opens /ws).

Fresh connections take the lean path (:mod:`homer.transports.websocket`);
this one costs a task and aiohttp's buffers per connection, and speaks the
same protocol above the transport.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from homer.protocol.codecs import DecodeError, JSONCodec
from homer.protocol.envelope import error_envelope
from homer.protocol.websocket import pong_frame
from homer.server.session import Session
from homer.transports.front import origin_allowed
from homer.transports.websocket import JSON_OVER_WEBSOCKET, WebSocketSender

if TYPE_CHECKING:
    from homer.server.app import Homer

__all__ = ["AiohttpPeer", "websocket_handler"]

_JSON = JSONCodec()


class AiohttpPeer(WebSocketSender):
    """Reads through aiohttp; writes pre-rendered frames straight to the transport,
    like the lean peer (no task per delivery)."""

    __slots__ = (
        "address",
        "app",
        "closing",
        "fmt",
        "last_seen",
        "opened_at",
        "pinged_at",
        "session",
        "transport",
    )

    def __init__(self, app: Homer, transport: asyncio.Transport | None, address: str) -> None:
        self.app = app
        self.fmt = JSON_OVER_WEBSOCKET
        self.transport = transport
        self.address = address
        self.session: Session | None = None
        self.last_seen = self.opened_at = app.clock()
        self.pinged_at = 0.0
        self.closing = False


async def websocket_handler(request: web.Request, app: Homer) -> web.StreamResponse:
    if not origin_allowed(
        request.headers.get("Origin"), request.headers.get("Host"), app.config.server.origins
    ):
        raise web.HTTPForbidden(text="origin not allowed")
    # autoping off: aiohttp would swallow pongs, and a pong is a sign of life.
    ws = web.WebSocketResponse(
        max_msg_size=app.config.limits.max_frame, autoping=False, compress=False
    )
    await ws.prepare(request)
    transport = request.transport
    peer = AiohttpPeer(app, transport, request.remote or "unknown")
    app.connected(peer)
    try:
        async for message in ws:
            peer.last_seen = app.clock()
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                data = message.data.encode() if isinstance(message.data, str) else message.data
                try:
                    document = _JSON.decode(data)
                except DecodeError as exc:
                    peer.send(error_envelope(None, "invalid", str(exc)))
                    continue
                app.receive(peer, document)
            elif message.type == WSMsgType.PING:
                peer._write(pong_frame(message.data))
            elif message.type == WSMsgType.ERROR:
                break
    except asyncio.CancelledError:
        raise
    finally:
        peer.closing = True
        peer.transport = None
        app.disconnected(peer)
    return ws
