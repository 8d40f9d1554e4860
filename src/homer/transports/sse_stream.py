"""Server-Sent Events: ``GET /api/events``, a one-way stream of a user's rooms.

An SSE stream is a peer like a WebSocket connection: subscribed through the
hub, closed when it falls behind or its token expires. Each event is::

    id: lobby~1~42,plans~2~7
    event: msg
    data: {"op":"msg","room":"lobby","seq":42,...}

The ``event:`` and ``data:`` lines are rendered once per event by the shared
:class:`SSEFormat`, for every stream. The ``id:`` line is the stream's resume
cursor, every room's ``(epoch, seq)``: it is written by each stream before the
shared bytes, and only on events that move a position (decision 0009).

The response is chunked HTTP/1.1 written straight to the transport after the
headers, like the WebSocket peers: no task or await per delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import msgspec
from aiohttp import web

from homer.core.ops import (
    PROTOCOL_VERSION,
    Position,
    after_welcome,
    authenticate,
    check_connections,
    open_session,
)
from homer.core.session import Session
from homer.errors import HomerError, InvalidInput, Unauthenticated
from homer.messaging.hub import Outgoing
from homer.protocol.codecs import Codec, JSONCodec
from homer.protocol.envelope import Envelope
from homer.protocol.sse import render_comment, render_event
from homer.transports.framed import FramedSender
from homer.transports.http import bearer_token, error_response, internal_error
from homer.transports.stream_cursor import Cursor, decode_cursor, encode_position, plan_start

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["SSEFormat", "SSEPeer", "decode_cursor", "encode_position", "stream_events"]

log = logging.getLogger("homer.sse")


class SSEFormat:
    """The ``event:`` and ``data:`` lines of one event: shared by every SSE stream
    (:meth:`CodecRegistry.wire_format <homer.protocol.codecs.CodecRegistry.wire_format>`
    builds it once), so the hub renders an event once for all of them."""

    __slots__ = ("codec",)

    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    def render(self, envelope: Envelope) -> bytes:
        return render_event(self.codec.encode(envelope), event=envelope.op)


#: The keep-alive a stream gets instead of a WebSocket ping.
_PING = render_comment("ping")


def _chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class SoleRoomChunk:
    """The whole chunk of an event, ``id:`` line included, for the streams that
    follow its room alone in one epoch: their cursor is that room's position, so
    the hub renders the chunk once for all of them, as it does for WebSocket."""

    __slots__ = ("epoch", "fmt")

    def __init__(self, codec: Codec, epoch: int) -> None:
        self.fmt = SSEFormat(codec)
        self.epoch = epoch

    def render(self, envelope: Envelope) -> bytes:
        assert envelope.room is not None
        assert envelope.seq is not None
        position = encode_position(envelope.room, self.epoch, envelope.seq)
        return _chunk(b"id: %s\n%s" % (position.encode(), self.fmt.render(envelope)))


class SSEPeer(FramedSender, asyncio.Protocol):
    """One stream. It stands between the transport and aiohttp's protocol (to hear
    at once when the client goes away) and writes chunks straight to the transport."""

    __slots__ = ("_cursor", "_pending", "_sole", "done", "inner")

    too_slow = "too slow: reconnect and resume from your last id"

    def __init__(
        self,
        app: Homer,
        fmt: SSEFormat,
        address: str,
        *,
        follows_joins: bool = True,
    ) -> None:
        super().__init__(app, address, fmt)
        self.inner: asyncio.Protocol | None = None
        #: Until the stream starts: what arrived meanwhile, delivered after ``ready``.
        self._pending: list[Outgoing] | None = []
        self._cursor = Cursor(follows_joins=follows_joins)
        #: The shared chunk format of this stream's only room, in its epoch.
        self._sole: SoleRoomChunk | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- the stream -------------------------------------------------------------------

    def start(
        self,
        transport: asyncio.Transport,
        ready: Envelope,
        positions: Mapping[str, tuple[int, int]],
        *,
        forward_to: asyncio.Protocol | None = None,
    ) -> None:
        """Take over ``transport`` once the headers are out, send ``ready`` with the
        cursor, then what arrived meanwhile. ``forward_to``: the protocol that served
        the request (aiohttp's), told of what happens to the connection."""
        self.inner = forward_to
        transport.set_protocol(self)
        self.transport = transport
        self._cursor.start(positions)
        self._write(self._cursor_line() + self.fmt.render(ready))
        pending, self._pending = self._pending, None
        if pending:
            self.push_many(pending)

    def cursor(self) -> str:
        return self._cursor.text()

    def _cursor_line(self) -> bytes:
        return b"id: %s\n" % self._cursor.text().encode()

    def _render(self, out: Outgoing) -> bytes:
        """The event as a chunk for this stream, or ``b""`` when it is not for it."""
        envelope = out.envelope
        cursor = self._cursor
        if not cursor.admits(self.app, self, envelope):
            return b""
        room, seq = envelope.room, envelope.seq
        if room is not None and seq is not None:
            epoch = cursor.sole_epoch(room)
            if epoch is not None:  # the common case: shared bytes, nothing encoded here
                cursor.move(room, epoch, seq)
                shared = self._sole
                if shared is None or shared.epoch != epoch:
                    shared = self._sole = self.app.codecs.wire_format(
                        self.fmt.codec.name, SoleRoomChunk, epoch
                    )
                return out.render(shared)
        data = out.render(self.fmt)
        if cursor.advance(envelope):
            return _chunk(self._cursor_line() + data)
        return _chunk(data)

    # -- Peer: what the shared push does not --------------------------------------------

    def push(self, out: Outgoing) -> None:
        if self._pending is not None:
            self._pending.append(out)
        else:
            self.push_rendered(out)

    def push_many(self, outs: list[Outgoing]) -> None:
        if self._pending is not None:
            self._pending.extend(outs)
        else:
            self.push_many_rendered(outs)

    def send(self, envelope: Envelope) -> None:
        self.push(Outgoing(envelope))

    def ping(self) -> None:
        # A stream cannot answer: a write that goes through is its sign of life,
        # and a dead client shows up as a closed connection.
        self._write(_PING)
        self.lifecycle.received(self.app.clock())

    def close(self, code: int, reason: str) -> None:
        """Say why, end the stream (the request's handler returns); the connection
        closes after it, or after a grace."""
        lifecycle = self.lifecycle
        if lifecycle.ended:
            return
        transport = self.transport
        if transport is not None:
            transport.write(self._goodbye(code, reason))
        lifecycle.closing(code, reason)
        if not self.done.done():
            self.done.set_result(None)
        if transport is not None:
            # A client that never reads would keep the socket open: cut it after a grace.
            asyncio.get_running_loop().call_later(
                self.app.config.limits.close_grace, transport.abort
            )

    def _goodbye(self, code: int, reason: str) -> bytes:
        body = msgspec.json.encode({"code": code, "reason": reason[:120]})
        return _chunk(render_event(body, event="close"))

    def _write(self, data: bytes) -> None:
        """``data`` as one HTTP/1.1 chunk."""
        transport = self.transport
        if transport is not None and not self.lifecycle.ended and data:
            transport.write(_chunk(data))

    # -- asyncio.Protocol: pass everything on to aiohttp ----------------------------------

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)
        super().connection_lost(exc)
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


def stream_request(
    headers: Mapping[str, str], query: Mapping[str, str]
) -> tuple[str, list[str] | None, dict[str, Position]]:
    """The token, the rooms (``None``: all of the user's) and the resume positions
    of a ``GET /api/events``, from its headers (lower-case names) and query."""
    token = bearer_token(headers.get("authorization", "")) or query.get("token", "")
    if not token:
        raise Unauthenticated("send the token as 'Authorization: Bearer ...' (or ?token=)")
    rooms: list[str] | None = None
    asked = query.get("rooms")
    if asked is not None:
        rooms = [room.strip() for room in asked.split(",") if room.strip()]
        if not rooms:
            raise InvalidInput("rooms= names no room: leave it out to follow all your rooms")
    # The header wins: a browser reconnects to the same URL, whose query is older.
    cursor = headers.get("last-event-id") or query.get("last_event_id") or ""
    return token, rooms, decode_cursor(cursor)


async def open_stream(
    app: Homer, token: str, rooms: list[str] | None, address: str
) -> tuple[SSEPeer, Session, list[dict[str, Any]]]:
    """Authenticate and subscribe a new stream; the caller sends the response head,
    then :func:`begin`. Raises :class:`HomerError` with nothing left open."""
    user, claims = await authenticate(app, token)
    check_connections(app, user, address)
    fmt = app.codecs.wire_format(JSONCodec.name, SSEFormat)
    peer = SSEPeer(app, fmt, address, follows_joins=rooms is None)
    app.connected(peer)
    try:
        session, infos = await open_session(app, peer, user, claims, rooms=rooms)
    except BaseException:
        app.disconnected(peer)
        raise
    return peer, session, infos


def begin(
    app: Homer,
    peer: SSEPeer,
    transport: asyncio.Transport,
    infos: list[dict[str, Any]],
    resume: dict[str, Position],
    rooms: list[str] | None,
    *,
    forward_to: asyncio.Protocol | None,
) -> None:
    """Stream: ``ready``, the replay the cursor asks for, then live events."""
    session = peer.session
    assert session is not None
    start = plan_start(session, infos, resume, rooms)
    peer.start(transport, _ready(app, session, infos), start.positions, forward_to=forward_to)
    app.spawn(after_welcome(app, peer, session, start.fresh, start.resume))


#: The response head of a stream served without aiohttp (a fresh connection).
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Accel-Buffering: no\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n"
)


async def serve_stream(
    app: Homer,
    transport: asyncio.Transport,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    address: str,
) -> None:
    """``GET /api/events`` on a fresh connection, without aiohttp: once the stream
    runs, no task, request or response object stays behind (an idle stream is a
    peer and its transport, as a WebSocket is)."""
    try:
        token, rooms, resume = stream_request(headers, query)
        peer, _, infos = await open_stream(app, token, rooms, address)
    except HomerError as exc:
        app.metrics.errors.labels(code=str(exc.code)).inc()
        _refuse(transport, error_response(exc))
        return
    except Exception:
        log.exception("could not open a stream", extra={"address": address})
        _refuse(transport, internal_error())
        return
    if transport.is_closing():  # the client left while we looked it up
        app.disconnected(peer)
        return
    transport.write(STREAM_HEAD)
    begin(app, peer, transport, infos, resume, rooms, forward_to=None)


def _refuse(transport: asyncio.Transport, response: web.Response) -> None:
    """Write ``response`` (the HTTP API's error answer) and close: the connection
    never reached aiohttp, so the bytes are put together here."""
    if transport.is_closing():
        return
    body = response.body
    assert isinstance(body, bytes)
    headers = "".join(
        f"{name}: {value}\r\n"
        for name, value in response.headers.items()
        if name.lower() != "content-length"
    )
    transport.write(
        f"HTTP/1.1 {response.status} {response.reason}\r\n{headers}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
        + body
    )
    transport.close()


async def stream_events(request: web.Request, app: Homer) -> web.StreamResponse:
    """``GET /api/events`` through aiohttp (a connection that carried requests before,
    or Homer mounted in another application): the handler waits for the stream's end."""
    token, rooms, resume = stream_request(
        {name.lower(): value for name, value in request.headers.items()}, request.query
    )
    peer, _, infos = await open_stream(app, token, rooms, request.remote or "unknown")
    try:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        response.force_close()  # the stream is the whole connection
        await response.prepare(request)
        transport = request.transport
        if transport is None or transport.is_closing():
            return response
        begin(
            app,
            peer,
            transport,
            infos,
            resume,
            rooms,
            forward_to=cast(asyncio.Protocol, transport.get_protocol()),
        )
        await peer.done
        return response
    finally:
        app.disconnected(peer)


def _ready(app: Homer, session: Session, infos: list[dict[str, Any]]) -> Envelope:
    user = session.user
    return Envelope(
        op="ready",
        body={
            "protocol": PROTOCOL_VERSION,
            "session": session.id,
            "user": {"id": user.id, "name": user.name, "attributes": dict(user.attributes)},
            "rooms": infos,
            "expires_at": session.expires_at,
            "server_time": app.clock(),
            "heartbeat": app.config.limits.heartbeat,
        },
    )
