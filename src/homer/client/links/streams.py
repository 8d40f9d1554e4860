"""The stream links: the WebSocket, and raw TCP in a framing.

Both say hello as a request (``hello.request``) and read envelopes in the
codec asked for; the answer to the hello is the welcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import aiohttp

from homer.client.errors import ClientError, ConnectionLost
from homer.client.links.base import (
    HELLO_RID,
    MAX_INCOMING,
    ClientCodec,
    ClientHello,
    OnEnvelope,
    decode_envelope,
    encode_request,
    find_codec,
    http_session,
    log,
    silence_limit,
    welcome_body,
)
from homer.protocol.envelope import Envelope, RequestId
from homer.protocol.framing import FrameTooLarge, LengthPrefixedFraming, LineFraming

__all__ = ["FramingName", "TCPLink", "WebSocketLink", "check_framing"]

FramingName = Literal["lines", "length"]

#: The request id of the answer to a raw TCP server's ``ping`` event.
PING_RID = "ping"
#: How much a stream read asks for at once.
READ_SIZE = 1 << 16


def check_framing(codec: str, framing: str | None) -> FramingName:
    """The raw TCP framing for ``codec``: ``framing``, or by default JSON lines for a
    text codec and length-prefixed frames for a binary one; ``ValueError`` for a
    framing that cannot carry the codec."""
    text = find_codec(codec).text
    if framing is None:
        return "lines" if text else "length"
    if framing == "lines" and not text:
        raise ValueError(f"the {codec} codec is binary: use the 'length' framing")
    if framing not in ("lines", "length"):
        raise ValueError(f"unknown framing {framing!r}: choose lines or length")
    return "lines" if framing == "lines" else "length"


# -- WebSocket ----------------------------------------------------------------------------


class WebSocketLink:
    """``/ws`` over aiohttp, the codec asked for as subprotocol ``homer.<codec>``."""

    name: ClassVar[str] = "websocket"

    def __init__(
        self,
        url: str,
        on_envelope: OnEnvelope,
        *,
        codec: ClientCodec = "json",
        ssl_context: ssl.SSLContext | None = None,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self.codec = find_codec(codec)
        self._on_envelope = on_envelope
        self._ssl = ssl_context
        self._http = http
        self._owns_http = http is None
        #: The aiohttp WebSocket, once open.
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self, hello: ClientHello) -> dict[str, Any]:
        if self._http is None:
            self._http = http_session(self._ssl, keepalive=False)
        subprotocol = f"homer.{self.codec.name}"
        ws = self.ws = await self._http.ws_connect(
            self.url + "/ws", autoping=True, max_msg_size=0, protocols=(subprotocol,)
        )
        # A server from before negotiation answers without a subprotocol, in JSON.
        if ws.protocol != subprotocol and not (ws.protocol is None and self.codec.name == "json"):
            raise ClientError("invalid", f"{self.url} does not speak {subprotocol}")
        await ws.send_bytes(encode_request(self.codec, hello.request(HELLO_RID)))
        while True:  # the welcome is the first frame answering the hello
            message = await ws.receive()
            if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise ConnectionLost(f"connection closed during hello: {message.extra}")
            envelope = decode_envelope(self.codec, message.data)
            if envelope is None:
                continue
            if envelope.rid == HELLO_RID and envelope.op in ("reply", "error"):
                return welcome_body(envelope)
            self._on_envelope(envelope)

    async def send(self, op: str, rid: RequestId, params: Mapping[str, Any]) -> None:
        ws = self.ws
        if ws is None or ws.closed:
            raise ConnectionLost("not connected")
        try:
            await ws.send_bytes(encode_request(self.codec, {"op": op, "rid": rid, **params}))
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectionLost(f"could not send {op}: {exc}") from exc

    async def run(self) -> None:
        ws = self.ws
        if ws is None:
            return
        try:
            async for message in ws:
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    envelope = decode_envelope(self.codec, message.data)
                    if envelope is not None:
                        self._on_envelope(envelope)
                elif message.type == aiohttp.WSMsgType.ERROR:
                    break
        except (aiohttp.ClientError, OSError) as exc:
            log.debug("WebSocket to %s failed: %s", self.url, exc)

    def abort(self) -> None:
        ws = self.ws
        if ws is None:
            return
        # aiohttp hands out no way to cut a WebSocket without a close frame: take
        # the connection's transport, or shut the socket down.
        transport = getattr(getattr(ws, "_conn", None), "transport", None)
        cut = getattr(transport, "abort", None)
        if callable(cut):
            cut()
            return
        sock = ws.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def close(self) -> None:
        ws = self.ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                await ws.close()
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None


# -- raw TCP ------------------------------------------------------------------------------


class TCPLink:
    """Raw TCP: the greeting ``homer/1 <codec> <framing>``, then the WebSocket's
    requests and envelopes in that framing (:mod:`homer.protocol.framing`).

    The server's ``ping`` events are answered here and its ``close`` event ends
    the connection; neither reaches the client's events.
    """

    name: ClassVar[str] = "tcp"

    def __init__(
        self,
        url: str,
        on_envelope: OnEnvelope,
        *,
        codec: ClientCodec = "json",
        framing: FramingName | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if not parts.hostname or parts.port is None:
            raise ValueError(f"{url!r}: a raw TCP URL is tcp://host:port")
        self.url = url
        self.host, self.port = parts.hostname, parts.port
        self.tls: ssl.SSLContext | bool = (ssl_context or True) if parts.scheme == "tcps" else False
        self.codec = find_codec(codec)
        self.framing_name = check_framing(codec, framing)
        self._framing: LineFraming | LengthPrefixedFraming = (
            LineFraming(MAX_INCOMING)
            if self.framing_name == "lines"
            else LengthPrefixedFraming(MAX_INCOMING)
        )
        self._on_envelope = on_envelope
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        #: What came after the welcome in the same read, for :meth:`run`.
        self._backlog: list[Envelope] = []
        self._silence = silence_limit({})
        self._ended = False
        #: The server's ``close`` event (``{"code", "reason"}``), when it sent one.
        self.close_reason: dict[str, Any] | None = None

    def _frame(self, document: Mapping[str, Any]) -> bytes:
        return self._framing.frame(encode_request(self.codec, document))

    async def open(self, hello: ClientHello) -> dict[str, Any]:
        self._reader, self._writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self.tls or None,
            server_hostname=self.host if self.tls else None,
            limit=READ_SIZE,
        )
        greeting = f"homer/1 {self.codec.name} {self.framing_name}\n".encode()
        # The bytes after the greeting are frames already: the hello goes with it.
        self._writer.write(greeting + self._frame(hello.request(HELLO_RID)))
        await self._writer.drain()
        welcome: dict[str, Any] | None = None
        while welcome is None:
            data = await self._reader.read(READ_SIZE)
            if not data:
                raise ConnectionLost(f"connection closed during hello: {self.close_reason}")
            try:
                envelopes = self._envelopes(data)
            except FrameTooLarge as exc:
                raise ConnectionLost(str(exc)) from exc
            for envelope in envelopes:
                if welcome is not None:
                    self._backlog.append(envelope)
                elif envelope.rid == HELLO_RID and envelope.op in ("reply", "error"):
                    welcome = welcome_body(envelope)
                elif envelope.op == "hello" and envelope.rid is None:
                    continue  # the server took the greeting
                elif envelope.op == "error" and envelope.rid is None:
                    welcome_body(envelope)  # it refused the greeting: raises
                else:
                    self._on_envelope(envelope)
            if welcome is None and self._ended:
                raise ConnectionLost(f"the server closed during hello: {self.close_reason}")
        self._silence = silence_limit(welcome)
        return welcome

    def _envelopes(self, data: bytes) -> list[Envelope]:
        """The envelopes in ``data``, less what concerns the connection alone."""
        envelopes: list[Envelope] = []
        for frame in self._framing.feed(data):
            envelope = decode_envelope(self.codec, frame)
            if envelope is None:
                continue
            if envelope.rid is None and envelope.op == "ping":
                self._write(self._frame({"op": "ping", "rid": PING_RID}))
            elif envelope.rid is None and envelope.op == "close":
                body = envelope.body
                self.close_reason = body if isinstance(body, dict) else {}
                log.debug("%s closed the connection: %s", self.url, self.close_reason)
                self._ended = True
                break
            elif not (envelope.rid == PING_RID and envelope.op == "reply"):
                envelopes.append(envelope)
        return envelopes

    def _write(self, data: bytes) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(data)

    async def send(self, op: str, rid: RequestId, params: Mapping[str, Any]) -> None:
        writer = self._writer
        if writer is None or writer.is_closing() or self._ended:
            raise ConnectionLost("not connected")
        try:
            writer.write(self._frame({"op": op, "rid": rid, **params}))
            await writer.drain()
        except OSError as exc:
            raise ConnectionLost(f"could not send {op}: {exc}") from exc

    async def run(self) -> None:
        reader = self._reader
        if reader is None:
            return
        backlog, self._backlog = self._backlog, []
        for envelope in backlog:
            self._on_envelope(envelope)
        while not self._ended:
            try:
                async with asyncio.timeout(self._silence):
                    data = await reader.read(READ_SIZE)
                envelopes = self._envelopes(data) if data else None
            except (OSError, TimeoutError, FrameTooLarge) as exc:
                log.debug("connection to %s failed: %r", self.url, exc)
                return
            if envelopes is None:
                return
            for envelope in envelopes:
                self._on_envelope(envelope)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()

    async def close(self) -> None:
        self._ended = True
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
