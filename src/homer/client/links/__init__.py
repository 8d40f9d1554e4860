"""How the client SDK reaches a node: one small interface, one link per transport.

:class:`~homer.client.HomerClient` keeps the session: requests and their
answers by request id, the outbox of sends by client id, each room's
position, resume and gap filling, the event stream. A :class:`Link` is one
connection to one node and only carries things: it opens and says hello its
own way, sends a request, hands every envelope that comes in (answers and
events alike) to a callback, and ends. The client makes a new one for each
connection (:func:`make_link`)::

    HomerClient (the session)
        │  open(hello) -> welcome · send(op, rid, params) · run() · abort() · close()
        ├── WebSocketLink   ws:// wss://      /ws, codec by subprotocol           (streams)
        ├── TCPLink         tcp:// tcps://    greeting line, lines or length      (streams)
        ├── SSELink         http(s)://, transport="sse"       GET /api/events   (over_http)
        └── LongPollLink    http(s)://, transport="longpoll"  /api/queues       (over_http)

The URL's scheme picks the transport (:func:`server_address`). Over SSE and
long-poll each request is a ``POST /api/ops/{op}``; its answer is handed on
as if it had come down the stream.

Resuming is the same everywhere: the hello carries the client's positions
(``hello.resume`` on a stream, ``Last-Event-ID`` for SSE, the ``cursor`` of a
new long-poll queue), and the server replays exactly what was missed.

Reading is one loop per connection (:meth:`Link.run`), run by the client's
one reader task; nothing starts a task per message. Codecs, framings and the
SSE parser are the protocol layer's (:mod:`homer.protocol`), sans-I/O.
"""

from __future__ import annotations

import ssl

import aiohttp

from homer.client.links.addresses import TRANSPORTS, ServerAddress, TransportName, server_address
from homer.client.links.base import (
    CODECS,
    ClientCodec,
    ClientHello,
    Link,
    OnEnvelope,
    http_session,
)
from homer.client.links.over_http import LongPollLink, SSELink
from homer.client.links.streams import FramingName, TCPLink, WebSocketLink, check_framing

__all__ = [
    "CODECS",
    "TRANSPORTS",
    "ClientCodec",
    "ClientHello",
    "FramingName",
    "Link",
    "LongPollLink",
    "OnEnvelope",
    "SSELink",
    "ServerAddress",
    "TCPLink",
    "TransportName",
    "WebSocketLink",
    "check_framing",
    "http_session",
    "make_link",
    "server_address",
]


def make_link(
    where: ServerAddress,
    on_envelope: OnEnvelope,
    *,
    codec: ClientCodec = "json",
    framing: FramingName | None = None,
    ssl_context: ssl.SSLContext | None = None,
    http: aiohttp.ClientSession | None = None,
) -> Link:
    """A new, unopened connection to ``where``. ``http`` is a session for the
    WebSocket to ride on (it makes its own without one)."""
    if where.transport == "websocket":
        return WebSocketLink(
            where.url, on_envelope, codec=codec, ssl_context=ssl_context, http=http
        )
    if where.transport == "tcp":
        return TCPLink(
            where.url, on_envelope, codec=codec, framing=framing, ssl_context=ssl_context
        )
    if where.transport == "sse":
        return SSELink(where.url, on_envelope, codec=codec, ssl_context=ssl_context)
    return LongPollLink(where.url, on_envelope, codec=codec, ssl_context=ssl_context)
