"""Homer inside an ASGI application (Starlette, FastAPI...), under a path of it,
on the host's own port and origin::

    chat = asgi_app(Homer(load_config()))
    site = Starlette(routes=[Mount("/chat", app=chat)], lifespan=chat.lifespan)

Everything Homer's HTTP side answers is then under ``/chat``: the API, REST,
operations over HTTP, Server-Sent Events, long-poll, the web client, the
application's own routes, and WebSocket at ``/chat/ws``. Homer starts with the
host's lifespan and stops with it (writes finished, sessions told 1001); run
alone, the adapter answers the ``lifespan`` scope itself.

A thin pump, two ways (docs/decisions/0012-asgi-adapter.md says why):

- HTTP: the request is played, as HTTP/1.1 bytes, into the same aiohttp
  application ``homer serve`` runs (:func:`~homer.transports.site.build_http_app`),
  through a stand-in transport; its answer is read back with h11 and handed
  to ASGI ``send``. One set of handlers, whoever hosts them.
- WebSocket: the codec is negotiated by ``Sec-WebSocket-Protocol`` as on
  Homer's own listener; each message goes to :meth:`Homer.receive`, and each
  event the peer sends waits in a bounded queue that one task drains into
  ASGI ``send``. A connection whose queue passes ``limits.send_queue`` is
  closed with 4008, as everywhere.

Heartbeats are the ASGI server's (uvicorn pings every 20 s by default): ASGI
carries no pings, so a dead connection ends as a ``websocket.disconnect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import quote

import h11
import msgspec
from aiohttp import web

from homer.core.app import Homer
from homer.core.session import CloseCode
from homer.messaging.hub import Outgoing
from homer.protocol.codecs import Codec
from homer.protocol.envelope import Envelope
from homer.protocol.lifecycle import State
from homer.protocol.websocket import HandshakeError
from homer.transports.browsers import BrowserPolicy
from homer.transports.file_routes import MULTIPART_SLACK, UPLOAD_PATH
from homer.transports.framed import FramedSender
from homer.transports.front import WEBSOCKET_PATH
from homer.transports.site import build_http_app, load_web_client
from homer.transports.websocket_peer import negotiate

__all__ = ["ASGIChannel", "ASGIWebSocketPeer", "HomerASGI", "asgi_app"]

log = logging.getLogger("homer.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Past this many queued bytes the HTTP side is told to pause writing (aiohttp then
#: waits in ``drain``), and below the low mark to resume: a big answer to a slow
#: client waits rather than piles up.
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024

#: Response headers that describe aiohttp's connection, not the answer: the ASGI
#: server frames the answer and speaks for the connection itself.
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"date", b"server", b"upgrade"}
)
#: Request headers the adapter sets itself when it replays a request.
_REPLACED = frozenset({b"connection", b"content-length", b"transfer-encoding", b"keep-alive"})


def asgi_app(app: Homer) -> HomerASGI:
    """Homer's HTTP side, WebSocket included, as an ASGI application to mount under
    a path of the host's; pass its :meth:`~HomerASGI.lifespan` to the host."""
    return HomerASGI(app)


class ASGIChannel(asyncio.Transport):
    """The write side of one ASGI connection, as a transport: writes never block,
    they wait in a queue until :meth:`drain` hands them to ASGI ``send``.

    :meth:`get_write_buffer_size` counts what waits, so the checks every peer makes
    against ``limits.send_queue`` (4008, too slow) hold here as on a socket.
    """

    def __init__(
        self, protocol: asyncio.BaseProtocol | None = None, *, peername: Any = None
    ) -> None:
        super().__init__({"peername": peername})
        self._protocol = protocol
        self._queue: deque[bytes] = deque()
        self._size = 0
        self._closing = False
        self._paused = False
        self._lost = False
        self._wake = asyncio.Event()
        #: Set when the connection is cut (:meth:`abort`): whoever waits stops waiting.
        self.gone = asyncio.Event()

    # -- asyncio.Transport ------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        self._queue.append(bytes(data))
        self._size += len(data)
        self._wake.set()
        protocol = self._protocol
        if not self._paused and self._size > HIGH_WATER and isinstance(protocol, asyncio.Protocol):
            self._paused = True
            protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        return self._size

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """No more writes; what is queued still goes out."""
        self._closing = True
        self._wake.set()

    def abort(self) -> None:
        """Cut now: drop what is queued, stop whoever drains or waits."""
        self.discard()
        self.close()
        self.gone.set()

    def discard(self) -> None:
        """Drop what is queued and not sent yet."""
        self._queue.clear()
        self._size = 0

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def is_reading(self) -> bool:
        return not self._closing

    def pause_reading(self) -> None:
        """Nothing to pause: the request arrived whole before it was played in."""

    def resume_reading(self) -> None:
        """See :meth:`pause_reading`."""

    # -- the pump's side --------------------------------------------------------------

    async def drain(self) -> AsyncIterator[bytes]:
        """What was written, in order, until the channel is closed and empty."""
        while True:
            if self._queue:
                data = self._queue.popleft()
                self._size -= len(data)
                protocol = self._protocol
                if self._paused and self._size <= LOW_WATER:
                    self._paused = False
                    if isinstance(protocol, asyncio.Protocol):
                        protocol.resume_writing()
                yield data
                continue
            if self._closing:
                return
            self._wake.clear()
            await self._wake.wait()

    def lost(self) -> None:
        """The connection is over: tell the protocol once, as a socket's transport does."""
        self._closing = True
        self.gone.set()
        if not self._lost and self._protocol is not None:
            self._lost = True
            self._protocol.connection_lost(None)


class ASGIMessageFormat:
    """A codec inside ASGI WebSocket messages: the encoded event alone (the ASGI
    server frames it). One per codec, shared, so the hub encodes an event once."""

    __slots__ = ("codec",)

    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    def render(self, envelope: Envelope) -> bytes:
        return self.codec.encode(envelope)


class ASGIWebSocketPeer(FramedSender):
    """A WebSocket connection held by an ASGI server. Each write to its channel is
    one message; the close code waits in the channel for the pump to send."""

    __slots__ = ("channel", "close_code", "close_reason")

    def __init__(
        self, app: Homer, channel: ASGIChannel, address: str, fmt: ASGIMessageFormat
    ) -> None:
        super().__init__(app, address, fmt, transport=channel)
        self.channel = channel
        #: What the pump says in its close message: set when the server closes.
        self.close_code: int | None = None
        self.close_reason = ""

    def push_many(self, outs: list[Outgoing]) -> None:
        # One message per event: a joined batch would be one message to the client.
        for out in outs:
            self.push(out)

    def ping(self) -> None:
        """ASGI carries no pings: the server keeps the connection alive and reports a
        dead one as a disconnect, so the connection counts as heard from."""
        self.lifecycle.received(self.app.clock())

    def _goodbye(self, code: int, reason: str) -> bytes:
        return b""  # the close is a message of its own, sent by the pump

    def close(self, code: int, reason: str) -> None:
        if self.lifecycle.ended:
            return
        self.lifecycle.closing(code, reason)
        self.close_code, self.close_reason = code, reason[:120]
        channel = self.channel
        if code == CloseCode.TOO_SLOW:
            channel.discard()  # what still waits is dropped: the client resumes from history
        channel.close()
        # A client that never reads would hold the pump in ``send``: cut it after a grace.
        asyncio.get_running_loop().call_later(self.app.config.limits.close_grace, channel.gone.set)

    def gone(self) -> None:
        """The ASGI connection ended, whoever ended it: the node forgets it."""
        if self.lifecycle.state is not State.CLOSED:
            self.lifecycle.closed()
        self.transport = None
        self.app.disconnected(self)


class HomerASGI:
    """The ASGI application :func:`asgi_app` returns."""

    def __init__(self, app: Homer) -> None:
        self.app = app
        self._runner: web.AppRunner | None = None

    # -- start and stop ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, host: object = None) -> AsyncIterator[None]:
        """Homer runs while the block does: give it to the host as its lifespan
        (``Starlette(lifespan=chat.lifespan)``), or enter it in the host's own."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        config = self.app.config.server
        page = await asyncio.to_thread(load_web_client) if config.web_client else None
        await self.app.start()
        runner = web.AppRunner(
            build_http_app(self.app, page), handle_signals=False, access_log=None
        )
        await runner.setup()
        self._runner = runner

    async def stop(self) -> None:
        """Finish the durable writes, tell every session 1001, close the store."""
        await self.app.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self._runner.server if self._runner is not None else None
        if server is None:
            await _plain(send, 503, b"Homer is not started: run it in the host's lifespan")
            return
        limit = max(self.app.config.limits.max_frame, 1024)
        if _route_path(scope) == UPLOAD_PATH:  # an upload has a limit of its own
            limit = self.app.config.files.max_size + MULTIPART_SLACK
        declared = _header_map(scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refused unread, as aiohttp does
            message = f"a body of {int(declared)} bytes is over the limit of {limit}"
            await _answer_json(send, 413, {"code": "too_large", "message": message})
            return
        body = await _request_body(receive, limit + 1)  # one more: aiohttp answers 413
        channel = ASGIChannel(peername=scope.get("client"))
        protocol = server()
        channel.set_protocol(protocol)
        protocol.connection_made(channel)
        protocol.data_received(_request_head(scope, len(body)) + body)
        listening = asyncio.create_task(_until_disconnect(receive, channel))
        try:
            await _relay_response(channel, send, head=scope["method"] == "HEAD")
        finally:
            listening.cancel()
            channel.lost()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if (await receive())["type"] != "websocket.connect":
            return
        headers = _header_map(scope)
        try:
            if self._runner is None:
                raise HandshakeError(503, "Homer is not started: run it in the host's lifespan")
            if _route_path(scope) != WEBSOCKET_PATH:
                raise HandshakeError(404, f"no WebSocket here: open {WEBSOCKET_PATH}")
            policy = BrowserPolicy.of(app.config.server)
            if not policy.host_allowed(headers.get("host")):
                raise HandshakeError(400, "this server does not answer to that Host")
            if not policy.origin_allowed(headers.get("origin"), headers.get("host")):
                raise HandshakeError(403, "origin not allowed")
            chosen, framed = negotiate(app.codecs, headers.get("sec-websocket-protocol"))
        except HandshakeError as exc:
            await _refuse_websocket(scope, send, exc)
            return
        fmt = app.codecs.wire_format(framed.codec.name, ASGIMessageFormat)
        await send({"type": "websocket.accept", "subprotocol": chosen})
        client = scope.get("client")
        peer = ASGIWebSocketPeer(app, ASGIChannel(), str(client[0]) if client else "unknown", fmt)
        app.connected(peer)
        tasks = [
            asyncio.create_task(_read_messages(peer, receive)),
            asyncio.create_task(_send_messages(peer, send)),
            asyncio.create_task(peer.channel.gone.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            peer.gone()


# -- WebSocket ------------------------------------------------------------------------


async def _read_messages(peer: ASGIWebSocketPeer, receive: Receive) -> None:
    """Each message the client sends, into :meth:`Homer.receive`, until it leaves."""
    limit = peer.app.config.limits.max_frame
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message["type"] != "websocket.receive" or peer.lifecycle.ended:
            continue
        peer.lifecycle.received(peer.app.clock())
        data = message.get("bytes")
        if data is None:
            data = (message.get("text") or "").encode()
        if len(data) > limit:
            peer.close(CloseCode.TOO_LARGE, f"a message of {len(data)} bytes is over {limit}")
            continue
        peer.message_received(data)


async def _send_messages(peer: ASGIWebSocketPeer, send: Send) -> None:
    """The peer's queue, message by message, into ASGI ``send``; then its close."""
    text = peer.fmt.codec.text
    async for data in peer.channel.drain():
        if text:
            await send({"type": "websocket.send", "text": data.decode()})
        else:
            await send({"type": "websocket.send", "bytes": data})
    if peer.close_code is not None:
        await send(
            {"type": "websocket.close", "code": peer.close_code, "reason": peer.close_reason}
        )


async def _refuse_websocket(scope: Scope, send: Send, error: HandshakeError) -> None:
    """The status and reason Homer's own listener would answer, where the server can
    say them (the ASGI ``websocket.http.response`` extension); a bare 403 otherwise."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": CloseCode.POLICY})
        return
    body = error.reason.encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in error.headers),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


# -- HTTP -----------------------------------------------------------------------------


async def _request_body(receive: Receive, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes of it."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        parts.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)[:limit]


def _route_path(scope: Scope) -> str:
    """The path under the mount point (``root_path``), as Homer's routes see it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


def _raw_route_path(scope: Scope) -> str:
    """The path under the mount point as the client wrote it (percent-escapes kept)."""
    raw: bytes | None = scope.get("raw_path")
    root = scope.get("root_path", "").encode()
    if raw is None or not raw.startswith(root):
        return quote(_route_path(scope))
    return raw[len(root) :].decode("latin-1") or "/"


def _request_head(scope: Scope, length: int) -> bytes:
    """The request line and headers of the ASGI request, as HTTP/1.1 for aiohttp: its
    path under the mount point, a body of ``length`` bytes, one request per connection."""
    target = _raw_route_path(scope)
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    lines = [f"{scope['method']} {target} HTTP/1.1".encode("latin-1")]
    lines += [
        name + b": " + value
        for name, value in scope.get("headers", ())
        if name.lower() not in _REPLACED
    ]
    lines += [b"Content-Length: %d" % length, b"Connection: close", b"", b""]
    return b"\r\n".join(lines)


async def _until_disconnect(receive: Receive, channel: ASGIChannel) -> None:
    """A client that leaves mid-answer (a closed event stream) cuts the channel."""
    while (await receive())["type"] != "http.disconnect":
        pass
    channel.abort()


async def _relay_response(channel: ASGIChannel, send: Send, *, head: bool) -> None:
    """aiohttp's answer, read back from the channel, as ASGI response messages."""
    reader = h11.Connection(our_role=h11.CLIENT)
    reader.send(
        h11.Request(method=b"HEAD" if head else b"GET", target=b"/", headers=[(b"host", b"homer")])
    )
    reader.send(h11.EndOfMessage())
    started = False
    chunks = channel.drain()
    while True:
        try:
            event = reader.next_event()
        except h11.RemoteProtocolError:  # cut off mid-answer: the client left
            event = h11.ConnectionClosed()
        if event is h11.NEED_DATA:
            data = await anext(chunks, b"")
            reader.receive_data(data)  # b"": closed, and nothing more will come
            continue
        if isinstance(event, h11.Response):
            started = True
            await send(
                {
                    "type": "http.response.start",
                    "status": event.status_code,
                    "headers": _answer_headers(event.headers),
                }
            )
        elif isinstance(event, h11.Data):
            await send({"type": "http.response.body", "body": bytes(event.data), "more_body": True})
        elif isinstance(event, h11.EndOfMessage):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            if not started:  # cut before it answered
                await _plain(send, 500, b"internal error")
            return


def _answer_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in headers if name not in _HOP_BY_HOP]


def _header_map(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name, repeated ones joined with commas."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        found[name] = f"{found[name]}, {value}" if name in found else value
    return found


async def _answer_json(send: Send, status: int, answer: dict[str, str]) -> None:
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": msgspec.json.encode(answer)})


async def _plain(send: Send, status: int, text: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
