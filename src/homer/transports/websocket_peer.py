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
from typing import TYPE_CHECKING, cast

from homer.core.session import CloseCode
from homer.protocol.codecs import Codec, CodecRegistry, JSONCodec
from homer.protocol.envelope import Envelope
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
from homer.transports.framed import Framed, FramedSender

if TYPE_CHECKING:
    from homer.core.app import Homer

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


class WebSocketSender(FramedSender):
    """A :class:`FramedSender` on WebSocket: pings and closes are control frames."""

    __slots__ = ()

    def ping(self: Framed) -> None:
        self._write(ping_frame(b""))

    def _goodbye(self, code: int, reason: str) -> bytes:
        return close_frame(code, reason[:120])


class WebSocketPeer(WebSocketSender, asyncio.Protocol):
    __slots__ = ("parser",)
    corks = True

    def __init__(self, app: Homer, address: str, fmt: WebSocketFormat) -> None:
        super().__init__(app, address, fmt)
        self.parser = FrameParser(max_message=app.config.limits.max_frame)

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.app.connected(self)

    def data_received(self, data: bytes) -> None:
        lifecycle = self.lifecycle
        lifecycle.received(self.app.clock())
        if lifecycle.ended:
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
            if self.lifecycle.ended:
                return
            if isinstance(event, TextMessage | BinaryMessage):
                self.message_received(event.data)
            elif isinstance(event, Ping):
                self._write(pong_frame(event.payload))
            elif isinstance(event, CloseReceived):
                self._closed_by_peer(event)
                return
            # Pong: the lifecycle has already heard it

    def _closed_by_peer(self, event: CloseReceived) -> None:
        self.lifecycle.closing(event.code or CloseCode.NORMAL, "closed by the client")
        transport = self.transport
        if transport is not None:
            transport.write(close_frame(event.code or CloseCode.NORMAL))
            transport.close()
