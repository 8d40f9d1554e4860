"""Raw TCP: Homer's protocol over a plain socket, for ``nc`` and for applications
that bring their own codec and framing.

The first line picks both: ``homer/1 <codec> <framing>\\n`` (``homer/1 json
lines``, ``homer/1 msgpack length``, or a codec and a framing the application
added with ``app.add_codec`` and ``app.add_framing``); the server answers in
that framing with a ``hello`` event saying what it took. A first line that does
not start with ``homer/`` is taken as a request in JSON lines, so a person can type
``{"op": "hello", "token": "..."}`` straight into ``nc``. After that the
envelopes, ops and errors are the WebSocket protocol's.

The server asks for a sign of life with a ``ping`` event (any frame answers
it) and says why it closes with a ``close`` event before it closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from homer.core.session import CloseCode
from homer.protocol.codecs import Codec, JSONCodec
from homer.protocol.envelope import Envelope, error_envelope
from homer.protocol.framing import (
    FrameTooLarge,
    Framing,
    GreetingError,
    LineFraming,
    parse_greeting,
)
from homer.transports.framed import FramedSender

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["FramingFormat", "TCPPeer"]

log = logging.getLogger("homer.tcp")

#: The longest first line the server reads before it gives up on a greeting.
GREETING_LIMIT = 256


class FramingFormat:
    """A codec inside a framing: one per codec and framing, shared by every peer that
    speaks both (:meth:`CodecRegistry.wire_format
    <homer.protocol.codecs.CodecRegistry.wire_format>` builds it)."""

    __slots__ = ("codec", "frame")

    def __init__(self, codec: Codec, framing: type[Framing]) -> None:
        self.codec = codec
        self.frame = framing.frame

    def render(self, envelope: Envelope) -> bytes:
        return self.frame(self.codec.encode(envelope))


class TCPPeer(FramedSender, asyncio.Protocol):
    """One raw TCP connection: no task, no buffer while idle, like a WebSocket peer."""

    __slots__ = ("framing", "greeting")
    corks = True

    def __init__(self, app: Homer) -> None:
        # Until the first line: JSON lines, the format a person at ``nc`` gets.
        super().__init__(
            app, "unknown", app.codecs.wire_format(JSONCodec.name, FramingFormat, LineFraming)
        )
        self.framing: Framing | None = None
        self.greeting = b""

    # -- asyncio.Protocol -----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        lifecycle = self.lifecycle
        lifecycle.received(self.app.clock())
        if lifecycle.ended:
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
            if self.lifecycle.ended:
                return
            self.message_received(frame)

    def _greet(self, data: bytes) -> tuple[Framing | None, bytes]:
        """Read the first line; pick the codec and framing it names (or JSON lines)."""
        self.greeting += data
        line, newline, rest = self.greeting.partition(b"\n")
        limit = self.app.config.limits.max_frame
        if not newline:
            if len(self.greeting) > GREETING_LIMIT:  # no greeting: a long first request
                self.framing = LineFraming(limit)
                return self.framing, self._take_greeting()
            return None, b""
        framings = self.app.framings
        try:
            asked = parse_greeting(line.rstrip(b"\r"), framings.names)
        except GreetingError as exc:
            self.send(error_envelope(None, "invalid", str(exc)))
            self.close(CloseCode.PROTOCOL_ERROR, "bad greeting")
            return None, b""
        if asked is None:  # the first line is already a request, in JSON lines
            self.framing = LineFraming(limit)
            return self.framing, self._take_greeting()
        codecs = self.app.codecs
        framing_class = framings.get(asked.framing)
        assert framing_class is not None  # parse_greeting knows the registered names
        problem = None
        codec = codecs.get(asked.codec)
        if codec is None:
            known = ", ".join(known.name for known in codecs)
            problem = f"unknown codec {asked.codec!r}: this server speaks {known}"
        elif not codec.text and not framing_class.binary:
            binary = ", ".join(repr(known.name) for known in framings if known.binary)
            problem = f"the {asked.codec} codec is binary: use a binary framing ({binary})"
        if problem is not None:
            self.send(error_envelope(None, "invalid", problem))
            self.close(CloseCode.PROTOCOL_ERROR, "bad greeting")
            return None, b""
        framing = framing_class(limit)
        self.fmt = codecs.wire_format(asked.codec, FramingFormat, framing_class)
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

    def _goodbye(self, code: int, reason: str) -> bytes:
        return self.fmt.render(Envelope(op="close", body={"code": code, "reason": reason}))
