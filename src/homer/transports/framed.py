"""What every stream peer shares, whatever its framing (WebSocket, raw TCP).

A peer holds one shared wire format (a codec inside a framing, built once per
node, so the hub renders a fanned-out event once for all peers that speak it),
writes without blocking, and closes a connection that falls too far behind
rather than slow anyone else down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from homer.core.session import CloseCode, Session
from homer.messaging.hub import Outgoing
from homer.protocol.codecs import Codec, DecodeError
from homer.protocol.envelope import Envelope, error_envelope

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["Framed", "FramedSender", "StreamFormat"]

log = logging.getLogger("homer.connection")


class StreamFormat(Protocol):
    """A codec inside a framing: renders an envelope into the bytes of one frame."""

    codec: Codec

    def render(self, envelope: Envelope) -> bytes: ...


class Framed(Protocol):
    app: Homer
    address: str
    transport: asyncio.Transport | None
    closing: bool
    session: Session | None
    last_seen: float
    opened_at: float
    pinged_at: float

    @property
    def fmt(self) -> StreamFormat: ...

    def push(self, out: Outgoing) -> None: ...
    def push_many(self, outs: list[Outgoing]) -> None: ...
    def send(self, envelope: Envelope) -> None: ...
    def ping(self) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def _write(self, data: bytes) -> None: ...
    def _writable(self) -> asyncio.Transport | None: ...
    def _unrenderable(self) -> None: ...


class FramedSender:
    """Sending and receiving whole messages over one transport, whatever the framing:
    what every stream peer (WebSocket, raw TCP) shares. A subclass says how to ping
    and how to close."""

    __slots__ = ()

    def push(self: Framed, out: Outgoing) -> None:
        transport = self._writable()
        if transport is not None:
            try:
                data = out.render(self.fmt)
            except Exception:
                self._unrenderable()
                return
            transport.write(data)

    def push_many(self: Framed, outs: list[Outgoing]) -> None:
        transport = self._writable()
        if transport is not None:
            fmt = self.fmt
            try:
                data = b"".join([out.render(fmt) for out in outs])
            except Exception:
                self._unrenderable()
                return
            transport.write(data)

    def _unrenderable(self: Framed) -> None:
        """The codec failed on a fanned-out event: only its own connections pay (the rest
        of the room still gets the event); this one closes, to resume from history."""
        log.exception(
            "codec %r could not encode an event: closing the connection",
            self.fmt.codec.name,
            extra={"conn": id(self), "address": self.address},
        )
        self.close(CloseCode.INTERNAL, "internal error: reconnect and resume")

    def message_received(self: Framed, data: bytes) -> None:
        """A whole data message: decode it with the connection's codec and hand it on."""
        try:
            document = self.fmt.codec.decode(data)
        except DecodeError as exc:
            self.app.metrics.errors.labels(code="invalid").inc()
            self.send(error_envelope(exc.rid, "invalid", str(exc)))
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

    def _writable(self: Framed) -> asyncio.Transport | None:
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

    def send(self: Framed, envelope: Envelope) -> None:
        self._write(self.fmt.render(envelope))

    def _write(self: Framed, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closing:
            transport.write(data)
