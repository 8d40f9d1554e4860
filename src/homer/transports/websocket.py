"""The WebSocket transport: a lean ``asyncio.Protocol`` per connection.

No task per connection, ``__slots__``, no buffer while idle. A fanned-out
event is rendered once per codec into a WebSocket frame and the same bytes are
written to every member speaking that codec (server frames are unmasked, so
they are identical).

The codec is negotiated at the opening handshake through
``Sec-WebSocket-Protocol``: subprotocol ``homer.<codec name>``
(``homer.json``, ``homer.msgpack``); no header means JSON.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol, cast

from homer.messaging.hub import Outgoing
from homer.protocol.codecs import Codec, CodecRegistry, DecodeError, JSONCodec
from homer.protocol.envelope import Envelope, error_envelope
from homer.protocol.websocket import (
    BinaryMessage,
    CloseReceived,
    Event,
    FrameParser,
    HandshakeError,
    Ping,
    TextMessage,
    WebSocketError,
    binary_frame,
    close_frame,
    ping_frame,
    pong_frame,
    text_frame,
)
from homer.server.session import CloseCode, Session

if TYPE_CHECKING:
    from homer.server.app import Homer

__all__ = [
    "SUBPROTOCOL_PREFIX",
    "WebSocketFormat",
    "WebSocketPeer",
    "WebSocketSender",
    "negotiate",
    "subprotocol",
]

log = logging.getLogger("homer.websocket")

SUBPROTOCOL_PREFIX = "homer."


class WebSocketFormat:
    """A codec inside WebSocket frames: one instance per codec, shared by all peers
    (:meth:`CodecRegistry.wire_format <homer.protocol.codecs.CodecRegistry.wire_format>`
    builds it), so the hub renders an event once for all of them."""

    __slots__ = ("codec", "frame")

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.frame = text_frame if codec.text else binary_frame

    def render(self, envelope: Envelope) -> bytes:
        return self.frame(self.codec.encode(envelope))


def subprotocol(codec_name: str) -> str:
    """The ``Sec-WebSocket-Protocol`` name under which a codec is offered."""
    return SUBPROTOCOL_PREFIX + codec_name


def negotiate(codecs: CodecRegistry, header: str | None) -> tuple[str | None, WebSocketFormat]:
    """The subprotocol to echo and the shared format, from a client's
    ``Sec-WebSocket-Protocol`` header (its choices, most preferred first).

    No header: JSON, and nothing to echo (clients from before negotiation). A
    header naming no codec this server knows is refused with a 400 that lists
    the ones it does: a client that asked for a codec never gets another.
    """
    if header is None:
        return None, codecs.wire_format(JSONCodec.name, WebSocketFormat)
    asked = [name.strip() for name in header.split(",") if name.strip()]
    for name in asked:
        codec_name = name.removeprefix(SUBPROTOCOL_PREFIX)
        if codec_name != name and codec_name in codecs:
            return name, codecs.wire_format(codec_name, WebSocketFormat)
    supported = ", ".join(subprotocol(known) for known in codecs.names)
    shown = ", ".join(asked)
    if len(shown) > 200:
        shown = shown[:200] + "..."
    raise HandshakeError(
        400,
        f"no supported subprotocol in Sec-WebSocket-Protocol ({shown or 'empty'}); "
        f"this server speaks {supported}",
    )


class _Framed(Protocol):
    app: Homer
    address: str
    fmt: WebSocketFormat
    transport: asyncio.Transport | None
    closing: bool
    session: Session | None
    last_seen: float
    opened_at: float
    pinged_at: float

    def push(self, out: Outgoing) -> None: ...
    def push_many(self, outs: list[Outgoing]) -> None: ...
    def send(self, envelope: Envelope) -> None: ...
    def ping(self) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def _write(self, data: bytes) -> None: ...
    def _writable(self) -> asyncio.Transport | None: ...
    def _unrenderable(self) -> None: ...


class WebSocketSender:
    """Frames to and from a WebSocket transport: what every WebSocket peer shares."""

    __slots__ = ()

    def push(self: _Framed, out: Outgoing) -> None:
        transport = self._writable()
        if transport is not None:
            try:
                data = out.render(self.fmt)
            except Exception:
                self._unrenderable()
                return
            transport.write(data)

    def push_many(self: _Framed, outs: list[Outgoing]) -> None:
        transport = self._writable()
        if transport is not None:
            fmt = self.fmt
            try:
                data = b"".join([out.render(fmt) for out in outs])
            except Exception:
                self._unrenderable()
                return
            transport.write(data)

    def _unrenderable(self: _Framed) -> None:
        """The codec failed on a fanned-out event: only its own connections pay (the rest
        of the room still gets the event); this one closes, to resume from history."""
        log.exception(
            "codec %r could not encode an event: closing the connection",
            self.fmt.codec.name,
            extra={"conn": id(self), "address": self.address},
        )
        self.close(CloseCode.INTERNAL, "internal error: reconnect and resume")

    def message_received(self: _Framed, data: bytes) -> None:
        """A whole data message: decode it with the connection's codec and hand it on."""
        try:
            document = self.fmt.codec.decode(data)
        except DecodeError as exc:
            self.app.metrics.errors.labels(code="invalid").inc()
            self.send(error_envelope(None, "invalid", str(exc)))
            return
        except Exception:
            # A codec's bug, not the client's fault: say so, as a failing handler does.
            log.exception(
                "codec %r failed to decode a message",
                self.fmt.codec.name,
                extra={"conn": id(self), "address": self.address},
            )
            self.app.metrics.errors.labels(code="internal").inc()
            self.send(error_envelope(None, "internal", "internal error"))
            return
        self.app.receive(self, document)

    def _writable(self: _Framed) -> asyncio.Transport | None:
        """The transport, unless closing or too far behind (then it closes, with a reason)."""
        transport = self.transport
        if transport is None or self.closing:
            return None
        if transport.get_write_buffer_size() > self.app.config.limits.send_queue:
            self.app.metrics.slow_consumers.inc()
            log.warning(
                "closing a connection that fell behind",
                extra={"conn": id(self), "address": self.address},
            )
            self.close(CloseCode.TOO_SLOW, "too slow: reconnect and resume from your last seq")
            return None
        return transport

    def send(self: _Framed, envelope: Envelope) -> None:
        self._write(self.fmt.render(envelope))

    def ping(self: _Framed) -> None:
        self._write(ping_frame(b""))

    def close(self: _Framed, code: int, reason: str) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        self.closing = True
        transport.write(close_frame(code, reason[:120]))
        transport.close()
        # A peer that never reads would keep the socket open: cut it after a grace.
        asyncio.get_running_loop().call_later(5.0, transport.abort)

    def _write(self: _Framed, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closing:
            transport.write(data)


class WebSocketPeer(WebSocketSender, asyncio.Protocol):
    __slots__ = (
        "address",
        "app",
        "closing",
        "fmt",
        "last_seen",
        "opened_at",
        "parser",
        "pinged_at",
        "session",
        "transport",
    )

    def __init__(self, app: Homer, address: str, fmt: WebSocketFormat) -> None:
        self.app = app
        self.address = address
        self.fmt = fmt
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None
        self.parser = FrameParser(max_message=app.config.limits.max_frame)
        self.last_seen = self.opened_at = app.clock()
        self.pinged_at = 0.0
        self.closing = False

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.app.connected(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.transport = None
        self.app.disconnected(self)

    def data_received(self, data: bytes) -> None:
        self.last_seen = self.app.clock()
        if self.closing:
            return
        try:
            events = self.parser.feed(data)
        except WebSocketError as exc:
            # What arrived before the violation was valid: handle it, then fail.
            self._handle(exc.events)
            self.close(exc.close_code, exc.reason)
            return
        self._handle(events)

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if self.closing:
                return
            if isinstance(event, TextMessage | BinaryMessage):
                self.message_received(event.data)
            elif isinstance(event, Ping):
                self._write(pong_frame(event.payload))
            elif isinstance(event, CloseReceived):
                self._closed_by_peer(event)
                return
            # Pong: last_seen has already moved

    def _closed_by_peer(self, event: CloseReceived) -> None:
        self.closing = True
        transport = self.transport
        if transport is not None:
            transport.write(close_frame(event.code or CloseCode.NORMAL))
            transport.close()
