"""What every stream peer shares, whatever its framing (WebSocket, raw TCP, SSE).

A peer holds one shared wire format (a codec inside a framing, built once per
node, so the hub renders a fanned-out event once for all peers that speak it),
writes without blocking, and closes a connection that falls too far behind
rather than slow anyone else down. Its state, heartbeats and timeouts are its
:class:`~homer.protocol.lifecycle.Lifecycle`'s.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, ClassVar, Protocol, cast

from homer.core.session import BasePeer, CloseCode, Session
from homer.messaging.hub import Outgoing
from homer.protocol.codecs import Codec, DecodeError
from homer.protocol.envelope import Envelope, error_envelope
from homer.protocol.lifecycle import Lifecycle

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["Corked", "Framed", "FramedSender", "StreamFormat", "client_address"]

log = logging.getLogger("homer.connection")


class StreamFormat(Protocol):
    """A codec inside a framing: renders an envelope into the bytes of one frame."""

    codec: Codec

    def render(self, envelope: Envelope) -> bytes: ...


class Framed(Protocol):
    app: Homer
    address: str
    transport: asyncio.Transport | None
    session: Session | None
    lifecycle: Lifecycle
    #: The close reason of a connection that fell behind: how to resume, in its terms.
    too_slow: str
    corks: ClassVar[bool]

    @property
    def fmt(self) -> StreamFormat: ...

    def push(self, out: Outgoing) -> None: ...
    def push_many(self, outs: list[Outgoing]) -> None: ...
    def push_rendered(self, out: Outgoing) -> None: ...
    def push_many_rendered(self, outs: list[Outgoing]) -> None: ...
    def send(self, envelope: Envelope) -> None: ...
    def cork(self) -> None: ...
    def ping(self) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def _write(self, data: bytes) -> None: ...
    def _goodbye(self, code: int, reason: str) -> bytes: ...
    def _render(self, out: Outgoing) -> bytes: ...
    def _writable(self) -> asyncio.Transport | None: ...
    def _unrenderable(self) -> None: ...


class Corked(asyncio.Transport):
    """A peer's transport while it is corked: writes wait, in order, and go out as
    one write when the peer is uncorked (its next reply, or two turns of the event
    loop after the last :meth:`Framed.cork`, whichever comes first). What the sender
    of a message gets on this node, its echo and then its ack, costs one system call
    instead of two; a joiner's ``joined``, its join event and its reply, one for three."""

    __slots__ = ("inner", "peer", "pending", "renewed")

    def __init__(self, peer: Framed, inner: asyncio.Transport) -> None:
        super().__init__()
        self.peer = peer
        self.inner = inner
        self.pending: list[bytes] = []
        #: Corked again while corked: the safety net waits two more turns.
        self.renewed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.pending.append(bytes(data))

    def flush(self) -> None:
        """Uncork: the pending bytes as one write; the peer's transport is its own again."""
        peer = self.peer
        if peer.transport is self:
            peer.transport = self.inner
        pending = self.pending
        if pending and not self.inner.is_closing():
            self.pending = []
            self.inner.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def later(self) -> None:
        """The safety net: uncork on the next turn of the loop (this one runs on the
        turn after the cork, so the reply that runs on that turn goes first)."""
        asyncio.get_running_loop().call_soon(self._due)

    def _due(self) -> None:
        if self.renewed:
            self.renewed = False
            self.later()
        else:
            self.flush()

    def close(self) -> None:
        self.flush()
        self.inner.close()

    def abort(self) -> None:
        self.pending = []
        if self.peer.transport is self:
            self.peer.transport = self.inner
        self.inner.abort()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size()

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.inner.get_extra_info(name, default)


class FramedSender(BasePeer):
    """Sending and receiving whole messages over one transport, whatever the framing:
    what every stream peer (WebSocket, raw TCP, SSE) shares. A subclass says how to
    ping and what it says before it closes (``_goodbye``)."""

    __slots__ = ("app", "fmt", "transport")

    too_slow = "too slow: reconnect and resume from your last seq"
    #: Whether :meth:`cork` holds writes (the lean listener's peers, whose transport
    #: is the event loop's own; the mounted and ASGI ones write through a host).
    corks: ClassVar[bool] = False

    def __init__(
        self,
        app: Homer,
        address: str,
        fmt: StreamFormat,
        *,
        transport: asyncio.Transport | None = None,
    ) -> None:
        super().__init__(address, now=app.clock(), timeouts=app.timeouts)
        self.app = app
        self.fmt = fmt
        self.transport = transport

    def connection_made(self: Framed, transport: asyncio.BaseTransport) -> None:
        """A socket of its own (raw TCP, IRC): the client's address, and the node
        counts the connection."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.address = client_address(transport)
        self.app.connected(self)

    def push(self: Framed, out: Outgoing) -> None:
        """A fanned-out event in the connection's shared wire format: the bytes the hub
        rendered once for every connection that speaks it (the hot path: one call,
        no per-connection rendering)."""
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

    def push_rendered(self: Framed, out: Outgoing) -> None:
        """:meth:`push` for a connection that renders each event itself
        (:meth:`_render`, e.g. with a cursor of its own), or skips it."""
        transport = self._writable()
        if transport is not None:
            try:
                data = self._render(out)
            except Exception:
                self._unrenderable()
                return
            if data:
                transport.write(data)

    def push_many_rendered(self: Framed, outs: list[Outgoing]) -> None:
        """:meth:`push_many` for a connection that renders each event itself."""
        transport = self._writable()
        if transport is not None:
            try:
                data = b"".join([self._render(out) for out in outs])
            except Exception:
                self._unrenderable()
                return
            if data:
                transport.write(data)

    def _render(self: Framed, out: Outgoing) -> bytes:
        """The bytes of a fanned-out event on this connection (``b""``: not for it);
        used by :meth:`push_rendered`."""
        return out.render(self.fmt)

    def close(self: Framed, code: int, reason: str) -> None:
        """Say why (:meth:`_goodbye`), then close; once."""
        transport = self.transport
        if transport is None or self.lifecycle.ended:
            return
        transport.write(self._goodbye(code, reason))
        self.lifecycle.closing(code, reason)
        transport.close()
        # A peer that never reads would keep the socket open: cut it after a grace.
        asyncio.get_running_loop().call_later(self.app.config.limits.close_grace, transport.abort)

    def connection_lost(self: Framed, exc: Exception | None) -> None:
        """The connection is gone: nothing more is written, the node forgets it."""
        self.lifecycle.closed()
        self.transport = None
        self.app.disconnected(self)

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
        if transport is None or self.lifecycle.ended:
            return None
        if transport.get_write_buffer_size() > self.app.config.limits.send_queue:
            self.app.metrics.slow_consumers.inc()
            log.warning(
                "closing a connection that fell behind",
                extra={"conn": id(self), "address": self.address},
            )
            self.close(CloseCode.TOO_SLOW, self.too_slow)
            return None
        return transport

    def send(self: Framed, envelope: Envelope) -> None:
        """A reply or a message for this connection alone: it counts against
        ``limits.send_queue`` as a delivery does, so a client that asks and never
        reads is closed as too slow rather than have its answers pile up."""
        transport = self._writable()
        if transport is None:
            return
        transport.write(self.fmt.render(envelope))
        if type(transport) is Corked:
            transport.flush()

    def pause_writing(self) -> None:
        """The client is not reading what it was sent: stop reading what it asks
        (TCP's own back-pressure) until it catches up, so the answers to requests
        it has not sent yet cannot pile up here."""
        self._reading(False)

    def resume_writing(self) -> None:
        self._reading(True)

    def _reading(self, on: bool) -> None:
        transport = self.transport
        if type(transport) is Corked:
            transport = transport.inner
        if transport is not None and not transport.is_closing():
            (transport.resume_reading if on else transport.pause_reading)()

    def cork(self: Framed) -> None:
        """Hold what is written to this connection until its next reply (or two turns
        of the event loop): the echo of a message this connection's user sent then
        leaves with its ack, in one write."""
        transport = self.transport
        if type(transport) is Corked:
            transport.renewed = True
            return
        if not self.corks or transport is None or self.lifecycle.ended:
            return
        corked = self.transport = Corked(self, transport)
        asyncio.get_running_loop().call_soon(corked.later)

    def _write(self: Framed, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.lifecycle.ended:
            transport.write(data)


def client_address(transport: asyncio.BaseTransport) -> str:
    """The client's IP address, for limits and logs (``unknown`` if the socket has none)."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unknown"
