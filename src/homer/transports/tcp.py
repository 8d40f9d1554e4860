"""Raw TCP: Homer's protocol over a plain socket, for ``nc`` and for applications
that bring their own codec and framing.

The first line picks both: ``homer/1 <codec> <framing>\\n`` (``homer/1 json
lines``, ``homer/1 msgpack length``); the server answers in that framing with
a ``hello`` event saying what it took. A first line that does not start with
``homer/`` is taken as a request in JSON lines, so a person can type
``{"op": "hello", "token": "..."}`` straight into ``nc``. After that the
envelopes, ops and errors are the WebSocket protocol's.

The server asks for a sign of life with a ``ping`` event (any frame answers
it) and says why it closes with a ``close`` event before it closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

from homer.protocol.codecs import Codec, JSONCodec
from homer.protocol.envelope import Envelope, error_envelope
from homer.protocol.framing import (
    FRAMINGS,
    FrameTooLarge,
    GreetingError,
    LengthPrefixedFraming,
    LineFraming,
    parse_greeting,
)
from homer.server.session import CloseCode, Session
from homer.transports.framed import FramedSender

if TYPE_CHECKING:
    from homer.server.app import Homer

__all__ = ["LengthFormat", "LineFormat", "TCPPeer"]

log = logging.getLogger("homer.tcp")

#: The longest first line the server reads before it gives up on a greeting.
GREETING_LIMIT = 256


class LineFormat:
    """A text codec, one document per line: shared by every peer that speaks it."""

    __slots__ = ("codec",)

    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    def render(self, envelope: Envelope) -> bytes:
        return LineFraming.frame(self.codec.encode(envelope))


class LengthFormat:
    """Any codec, each document behind its 4-byte big-endian length."""

    __slots__ = ("codec",)

    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    def render(self, envelope: Envelope) -> bytes:
        return LengthPrefixedFraming.frame(self.codec.encode(envelope))


class TCPPeer(FramedSender, asyncio.Protocol):
    """One raw TCP connection: no task, no buffer while idle, like a WebSocket peer."""

    __slots__ = (
        "address",
        "app",
        "closing",
        "fmt",
        "framing",
        "greeting",
        "last_seen",
        "opened_at",
        "pinged_at",
        "session",
        "transport",
    )

    def __init__(self, app: Homer) -> None:
        self.app = app
        self.address = "unknown"
        #: Until the first line: JSON lines, the format a person at ``nc`` gets.
        self.fmt: LineFormat | LengthFormat = app.codecs.wire_format(JSONCodec.name, LineFormat)
        self.framing: LineFraming | LengthPrefixedFraming | None = None
        self.greeting = b""
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None
        self.last_seen = self.opened_at = app.clock()
        self.pinged_at = 0.0
        self.closing = False

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) else "unknown"
        self.app.connected(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.transport = None
        self.app.disconnected(self)

    def data_received(self, data: bytes) -> None:
        self.last_seen = self.app.clock()
        if self.closing:
            return
        framing = self.framing
        if framing is None:
            framing, data = self._greet(data)
            if framing is None:
                return
        try:
            frames = framing.feed(data)
        except FrameTooLarge as exc:
            self.send(error_envelope(None, "too_large", str(exc)))
            self.close(CloseCode.TOO_LARGE, "frame too large")
            return
        self._handle(frames)

    def _handle(self, frames: list[bytes]) -> None:
        for frame in frames:
            if self.closing:
                return
            self.message_received(frame)

    def _greet(self, data: bytes) -> tuple[LineFraming | LengthPrefixedFraming | None, bytes]:
        """Read the first line; pick the codec and framing it names (or JSON lines)."""
        self.greeting += data
        line, newline, rest = self.greeting.partition(b"\n")
        limit = self.app.config.limits.max_frame
        if not newline:
            if len(self.greeting) > GREETING_LIMIT:  # no greeting: a long first request
                self.framing = LineFraming(limit)
                return self.framing, self._take_greeting()
            return None, b""
        try:
            asked = parse_greeting(line.rstrip(b"\r"))
        except GreetingError as exc:
            self.send(error_envelope(None, "invalid", str(exc)))
            self.close(CloseCode.PROTOCOL_ERROR, "bad greeting")
            return None, b""
        if asked is None:  # the first line is already a request, in JSON lines
            self.framing = LineFraming(limit)
            return self.framing, self._take_greeting()
        codecs = self.app.codecs
        framing = FRAMINGS[asked.framing](limit)
        problem = None
        codec = codecs.get(asked.codec)
        if codec is None:
            known = ", ".join(known.name for known in codecs)
            problem = f"unknown codec {asked.codec!r}: this server speaks {known}"
        elif not codec.text and not framing.binary:
            problem = f"the {asked.codec} codec is binary: use the 'length' framing"
        if problem is not None:
            self.send(error_envelope(None, "invalid", problem))
            self.close(CloseCode.PROTOCOL_ERROR, "bad greeting")
            return None, b""
        if isinstance(framing, LineFraming):
            self.fmt = codecs.wire_format(asked.codec, LineFormat)
        else:
            self.fmt = codecs.wire_format(asked.codec, LengthFormat)
        self.greeting = b""
        self.framing = framing
        self.send(Envelope(op="hello", body={"codec": asked.codec, "framing": asked.framing}))
        return framing, rest

    def _take_greeting(self) -> bytes:
        data, self.greeting = self.greeting, b""
        return data

    # -- what the server sends besides envelopes ------------------------------------

    def ping(self) -> None:
        self.send(Envelope(op="ping"))

    def close(self, code: int, reason: str) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        transport.write(
            self.fmt.render(Envelope(op="close", body={"code": code, "reason": reason}))
        )
        self.closing = True
        transport.close()
        # A peer that never reads would keep the socket open: cut it after a grace.
        asyncio.get_running_loop().call_later(5.0, transport.abort)
