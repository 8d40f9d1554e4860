"""The listener: one port for WebSocket and HTTP.

Each new connection starts here. The first request head decides: a WebSocket
upgrade at ``/ws`` becomes a lean :class:`~homer.transports.websocket_peer.WebSocketPeer`
(no task, a few hundred bytes) speaking the codec negotiated through
``Sec-WebSocket-Protocol``; a ``GET /api/events`` becomes a Server-Sent Events
stream the same lean way; anything else is handed, bytes and all, to the
aiohttp server that serves the HTTP API. A client that does not finish
its request head within the handshake timeout is cut off (slow loris).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qsl, urlsplit

from homer.protocol.websocket import HandshakeError, check_upgrade, handshake_response
from homer.transports.browsers import BrowserPolicy
from homer.transports.framed import client_address
from homer.transports.sse_stream import serve_stream
from homer.transports.websocket_peer import WebSocketPeer, negotiate

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["FrontProtocol"]


MAX_HEAD = 16_384
WEBSOCKET_PATH = "/ws"
EVENTS_PATH = "/api/events"


class FrontProtocol(asyncio.Protocol):
    __slots__ = ("_address", "_buffer", "_http", "_streaming", "_timer", "app", "transport")

    def __init__(self, app: Homer, http: Callable[[], asyncio.Protocol]) -> None:
        self.app = app
        self._http = http
        self._buffer = b""
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: The client's address while its handshake counts against the per-address cap.
        self._address: str | None = None
        #: Set once the connection became an event stream that is being opened.
        self._streaming = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._timer = asyncio.get_running_loop().call_later(
            self.app.config.limits.handshake_timeout, self._too_slow
        )
        address = self._address = client_address(transport)
        if not self.app.hold_address(address):  # slow loris from one address
            self._refuse(HandshakeError(429, "too many connections from this address"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self._streaming:
            return
        # Search only the new bytes (and the three before them): a head sent a
        # byte at a time costs linear time, not quadratic.
        start = max(0, len(self._buffer) - 3)
        buffer = self._buffer + data
        end = buffer.find(b"\r\n\r\n", start)
        if end < 0:
            if len(buffer) > MAX_HEAD:
                self._refuse(HandshakeError(431, "request head too large"))
            else:
                self._buffer = buffer
            return
        self._buffer = b""
        self._stop_timer()
        head, rest = buffer[: end + 4], buffer[end + 4 :]
        try:
            method, target, headers = _parse_head(head)
        except ValueError:
            self._refuse(HandshakeError(400, "malformed request head"))
            return
        url = urlsplit(target)
        fast = (url.path == WEBSOCKET_PATH and "upgrade" in headers) or (
            url.path == EVENTS_PATH and method == "GET"
        )
        if not fast:
            self._hand_to_http(buffer)  # which checks the Host itself
        elif not BrowserPolicy.of(self.app.config.server).host_allowed(headers.get("host")):
            self._refuse(HandshakeError(400, "this server does not answer to that Host"))
        elif url.path == WEBSOCKET_PATH:
            self._upgrade(method, headers, rest)
        else:
            self._stream(url.query, headers)

    def _stream(self, query: str, headers: dict[str, str]) -> None:
        """Server-Sent Events, served here rather than by aiohttp: an idle stream
        then costs no request handler (:func:`~homer.transports.sse_stream.serve_stream`)."""
        transport = self.transport
        assert transport is not None
        self._streaming = True  # whatever else the client sends is not a request
        asked = dict(parse_qsl(query, keep_blank_values=True))
        self.app.spawn(serve_stream(self.app, transport, headers, asked, client_address(transport)))

    def _upgrade(self, method: str, headers: dict[str, str], rest: bytes) -> None:
        transport = self.transport
        assert transport is not None
        try:
            key = check_upgrade(method, headers)
            policy = BrowserPolicy.of(self.app.config.server)
            if not policy.origin_allowed(headers.get("origin"), headers.get("host")):
                raise HandshakeError(403, "origin not allowed")
            chosen, fmt = negotiate(self.app.codecs, headers.get("sec-websocket-protocol"))
        except HandshakeError as exc:
            self._refuse(exc)
            return
        transport.write(handshake_response(key, subprotocol=chosen))
        peer = WebSocketPeer(self.app, client_address(transport), fmt)
        transport.set_protocol(peer)
        peer.connection_made(transport)
        if rest:
            peer.data_received(rest)

    def _hand_to_http(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        protocol = self._http()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(data)

    def _refuse(self, error: HandshakeError) -> None:
        transport = self.transport
        if transport is not None:
            transport.write(error.response())
            transport.close()
        self._stop_timer()

    def _too_slow(self) -> None:
        self._timer = None
        transport = self.transport
        if transport is not None:
            transport.abort()

    def _stop_timer(self) -> None:
        """The handshake is over, one way or another: no timer, no count."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._address is not None:
            self.app.release_address(self._address)
            self._address = None


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError("not HTTP/1.x")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError("malformed header line")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return method, target, headers
