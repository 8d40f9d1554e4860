"""WebSocket through aiohttp, for an upgrade on a connection that already
carried HTTP requests (a pooled client that logs in, then opens /ws).

Fresh connections take the lean path (:mod:`homer.transports.websocket_peer`);
this one costs a task and aiohttp's buffers per connection, and speaks the
same protocol above the transport, codec negotiation included.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from homer.protocol.websocket import HandshakeError, pong_frame
from homer.transports.browsers import BrowserPolicy
from homer.transports.websocket_peer import WebSocketSender, negotiate

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["AiohttpPeer", "websocket_handler"]

_SUBPROTOCOL = "Sec-WebSocket-Protocol"


class AiohttpPeer(WebSocketSender):
    """Reads through aiohttp; writes pre-rendered frames straight to the transport,
    like the lean peer (no task per delivery)."""

    __slots__ = ()


async def websocket_handler(request: web.Request, app: Homer) -> web.StreamResponse:
    policy = BrowserPolicy.of(app.config.server)
    if not policy.origin_allowed(request.headers.get("Origin"), request.headers.get("Host")):
        raise web.HTTPForbidden(text="origin not allowed")
    asked = request.headers.getall(_SUBPROTOCOL, None)
    try:
        chosen, fmt = negotiate(app.codecs, None if asked is None else ", ".join(asked))
    except HandshakeError as exc:
        raise web.HTTPBadRequest(text=exc.reason) from None
    if asked is not None and len(asked) > 1:
        # aiohttp reads only the first of several header lines: give it them all in one.
        headers = request.headers.copy()
        headers[_SUBPROTOCOL] = ", ".join(asked)
        request = request.clone(headers=headers)
    # autoping off: aiohttp would swallow pongs, and a pong is a sign of life.
    ws = web.WebSocketResponse(
        max_msg_size=app.config.limits.max_frame,
        autoping=False,
        compress=False,
        protocols=() if chosen is None else (chosen,),
    )
    await ws.prepare(request)
    transport = request.transport
    peer = AiohttpPeer(app, request.remote or "unknown", fmt, transport=transport)
    app.connected(peer)
    try:
        async for message in ws:
            peer.lifecycle.received(app.clock())
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                data = message.data.encode() if isinstance(message.data, str) else message.data
                peer.message_received(data)
            elif message.type == WSMsgType.PING:
                peer._write(pong_frame(message.data))
            elif message.type == WSMsgType.ERROR:
                break
    except asyncio.CancelledError:
        raise
    finally:
        peer.connection_lost(None)
    return ws
