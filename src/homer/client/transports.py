"""How the client SDK reaches a node: one small interface, one class per transport.

:class:`~homer.client.HomerClient` keeps the session: requests and their
answers by request id, the outbox of sends by client id, each room's
position, resume and gap filling, the event stream. A :class:`Transport` is
one connection to one node and only carries things: it opens and says hello
its own way, sends a request, hands every envelope that comes in (answers and
events alike) to a callback, and ends. The client makes a new one for each
connection::

    HomerClient (the session)
        │  open(hello) -> welcome · send(op, rid, params) · run() · abort() · close()
        ├── WebSocketTransport   ws:// wss://      /ws, codec by subprotocol
        ├── TCPTransport         tcp:// tcps://    greeting line, lines or length framing
        ├── SSETransport         http(s)://, transport="sse"       GET /api/events
        └── LongPollTransport    http(s)://, transport="longpoll"  /api/queues

The URL's scheme picks the transport (:func:`endpoint`); ``http://`` and
``https://`` mean the WebSocket unless ``transport=`` says ``"sse"`` or
``"longpoll"``. Over SSE and long-poll the events come on the stream (JSON) or
queue (in the codec) and each request is a ``POST /api/ops/{op}`` naming the stream's
session in the ``Homer-Session`` header, in the codec asked for; its answer is
handed on as if it had come down the stream, carrying the request's id.

Resuming is the same everywhere: the hello carries the client's positions
(``hello.resume`` on a stream, ``Last-Event-ID`` for SSE, the ``cursor`` of a
new long-poll queue), and the server replays exactly what was missed.

Reading is one loop per connection (:meth:`Transport.run`), run by the
client's one reader task; nothing starts a task per message.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, cast
from urllib.parse import quote, urlsplit

import aiohttp
import msgspec

from homer.client.errors import ClientError, ConnectionLost
from homer.protocol.codecs import (
    Codec,
    CodecRegistry,
    DecodeError,
    JSONCodec,
    MessagePackCodec,
    media_type,
)
from homer.protocol.cursor import encode_cursor
from homer.protocol.envelope import Envelope, RequestId
from homer.protocol.framing import FrameTooLarge, LengthPrefixedFraming, LineFraming
from homer.protocol.sse import EventStreamParser, ServerSentEvent

__all__ = [
    "CODECS",
    "TRANSPORTS",
    "ClientCodec",
    "Deliver",
    "Endpoint",
    "FramingName",
    "Hello",
    "LongPollTransport",
    "SSETransport",
    "TCPTransport",
    "Transport",
    "TransportName",
    "WebSocketTransport",
    "check_framing",
    "encode_cursor",
    "endpoint",
    "http_session",
    "make_transport",
]

log = logging.getLogger("homer.client")

ClientCodec = Literal["json", "msgpack"]
FramingName = Literal["lines", "length"]
TransportName = Literal["websocket", "tcp", "sse", "longpoll"]

#: Every transport, by the name ``transport=`` takes.
TRANSPORTS: tuple[TransportName, ...] = ("websocket", "tcp", "sse", "longpoll")

#: A callback that takes every envelope a connection receives, in order.
Deliver = Callable[[Envelope], None]

#: The request id of the hello each stream transport sends; the client's own are
#: integers and ``s:<cid>``, so they never meet it.
HELLO_RID = "hello"
#: The request id of the answer to a raw TCP server's ``ping`` event.
PING_RID = "ping"
#: The longest frame, stream line or event a client accepts from a server.
MAX_INCOMING = 1 << 26
#: How much a stream read asks for at once.
READ_SIZE = 1 << 16
#: Seconds of silence a stream waits past the server's heartbeat before it gives up.
SILENCE_GRACE = 5.0
#: The HTTP header naming the stream or queue an operation over HTTP acts on.
SESSION_HEADER = "Homer-Session"
#: What the server says when the stream or queue named in that header is gone.
_SESSION_GONE = {"session": "gone"}
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60.0, sock_connect=10.0)
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10.0)


#: The codecs the client speaks: the server's own, by the names ``codec=`` takes.
CODECS = CodecRegistry([JSONCodec(), MessagePackCodec()])
#: What SSE events are in, whatever the codec of the requests.
_JSON = JSONCodec()


def _codec(name: str) -> Codec:
    codec = CODECS.get(name)
    if codec is None:
        raise ValueError(f"unknown codec {name!r}: choose one of {', '.join(CODECS.names)}")
    return codec


# -- what a connection starts with ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """What a connection says first: who, and where it stopped in each room."""

    token: str
    #: The client's name and version, for the server's logs.
    client: str = "homer-python"
    #: Room -> ``(epoch, seq)``: the last message processed in each room.
    resume: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def request(self, rid: RequestId) -> dict[str, Any]:
        """The ``hello`` request of a stream transport (WebSocket, raw TCP)."""
        document: dict[str, Any] = {
            "op": "hello",
            "rid": rid,
            "token": self.token,
            "client": self.client,
        }
        if self.resume:
            document["resume"] = {
                room: {"epoch": epoch, "seq": seq} for room, (epoch, seq) in self.resume.items()
            }
        return document

    def cursor(self) -> str:
        """The positions as an SSE / long-poll resume cursor."""
        return encode_cursor(self.resume)


# -- the interface ------------------------------------------------------------------


class Transport(Protocol):
    """One connection to one node. Made by the client, used once.

    Errors: ``open`` raises :class:`ClientError` when the server refuses (a bad
    token, too many connections), and :class:`ConnectionLost`, ``OSError`` or
    ``aiohttp.ClientError`` when the node cannot be reached; ``send`` raises
    :class:`ConnectionLost` when the request could not go out. ``run`` returns
    when the connection ends, whoever ended it; it raises nothing.
    """

    #: The name ``transport=`` takes.
    name: ClassVar[str]

    async def open(self, hello: Hello) -> dict[str, Any]:
        """Connect and authenticate; the welcome (``hello``'s reply, SSE's ``ready``,
        the queue's registration). Events that come first go to the callback."""
        ...

    async def send(self, op: str, rid: RequestId, params: Mapping[str, Any]) -> None:
        """Send one request. Its answer, a ``reply`` or ``error`` envelope carrying
        ``rid``, goes to the callback (perhaps before this returns)."""
        ...

    async def run(self) -> None:
        """Read until the connection ends, handing each envelope to the callback."""
        ...

    def abort(self) -> None:
        """Cut the connection now, as a network failure would: ``run`` returns and
        the client reconnects and resumes."""
        ...

    async def close(self) -> None:
        """End the connection and free what it holds; safe to call more than once."""
        ...


# -- choosing one -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A node and the transport to reach it with."""

    transport: TransportName
    #: ``http(s)://host:port[/prefix]`` for the transports over HTTP (the WebSocket
    #: included), ``tcp(s)://host:port`` for raw TCP.
    url: str


_SCHEMES: dict[str, tuple[TransportName | None, str]] = {
    "ws": ("websocket", "http"),
    "wss": ("websocket", "https"),
    "http": (None, "http"),
    "https": (None, "https"),
    "tcp": ("tcp", "tcp"),
    "tcps": ("tcp", "tcps"),
}


def endpoint(url: str, transport: TransportName | None = None) -> Endpoint:
    """Where ``url`` points and over which transport: its scheme's, or ``transport``.

    ``ws://`` and ``wss://`` are the WebSocket, ``tcp://`` and ``tcps://`` raw TCP
    (TLS with ``tcps``), ``http://`` and ``https://`` the WebSocket unless
    ``transport`` is ``"sse"`` or ``"longpoll"``. A ``/ws`` path is dropped.
    """
    scheme, sep, rest = url.partition("://")
    known = _SCHEMES.get(scheme.lower()) if sep else None
    if known is None:
        raise ValueError(f"{url!r}: give a ws, wss, http, https, tcp or tcps URL")
    implied, base = known
    if transport is not None and transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}: choose one of {', '.join(TRANSPORTS)}")
    rest = rest.rstrip("/")
    if implied == "tcp" or transport == "tcp":
        if implied != "tcp" or transport not in (None, "tcp"):
            raise ValueError(
                f"{url!r}: raw TCP has its own port, give it as tcp://host:port "
                "(or tcps:// for TLS); the other transports take http(s):// or ws(s)://"
            )
        parts = urlsplit(f"{base}://{rest}")
        if not parts.hostname or parts.port is None or parts.path:
            raise ValueError(f"{url!r}: a raw TCP URL is tcp://host:port")
        return Endpoint("tcp", f"{base}://{rest}")
    return Endpoint(transport or "websocket", f"{base}://{rest.removesuffix('/ws')}")


def check_framing(codec: str, framing: str | None) -> FramingName:
    """The raw TCP framing for ``codec``: ``framing``, or by default JSON lines for a
    text codec and length-prefixed frames for a binary one; ``ValueError`` for a
    framing that cannot carry the codec."""
    text = _codec(codec).text
    if framing is None:
        return "lines" if text else "length"
    if framing == "lines" and not text:
        raise ValueError(f"the {codec} codec is binary: use the 'length' framing")
    if framing not in ("lines", "length"):
        raise ValueError(f"unknown framing {framing!r}: choose lines or length")
    return "lines" if framing == "lines" else "length"


def make_transport(
    where: Endpoint,
    deliver: Deliver,
    *,
    codec: ClientCodec = "json",
    framing: FramingName | None = None,
    ssl_context: ssl.SSLContext | None = None,
    http: aiohttp.ClientSession | None = None,
) -> Transport:
    """A new, unopened connection to ``where``. ``http`` is a session for the
    WebSocket to ride on (it makes its own without one)."""
    if where.transport == "websocket":
        return WebSocketTransport(
            where.url, deliver, codec=codec, ssl_context=ssl_context, http=http
        )
    if where.transport == "tcp":
        return TCPTransport(
            where.url, deliver, codec=codec, framing=framing, ssl_context=ssl_context
        )
    if where.transport == "sse":
        return SSETransport(where.url, deliver, codec=codec, ssl_context=ssl_context)
    return LongPollTransport(where.url, deliver, codec=codec, ssl_context=ssl_context)


def http_session(ssl_context: ssl.SSLContext | None, *, keepalive: bool) -> aiohttp.ClientSession:
    """An aiohttp session; without keep-alive, each request gets a fresh connection
    (a WebSocket then never rides on one that carried HTTP: the server's lean path)."""
    connector = aiohttp.TCPConnector(force_close=not keepalive, ssl=ssl_context or True)
    return aiohttp.ClientSession(connector=connector)


# -- shared helpers ---------------------------------------------------------------------


def _welcome(envelope: Envelope) -> dict[str, Any]:
    """The body of the answer to a hello, or the refusal as :class:`ClientError`."""
    body = envelope.body if isinstance(envelope.body, dict) else {}
    if envelope.op == "error":
        raise ClientError(str(body.get("code", "internal")), str(body.get("message", "")), body)
    return body


def _silence(welcome: Mapping[str, Any]) -> float:
    """How long a stream may stay silent before it counts as dead: the server
    speaks at least every ``heartbeat`` seconds (a ping when nothing else)."""
    heartbeat = welcome.get("heartbeat")
    seconds = float(heartbeat) if isinstance(heartbeat, int | float) and heartbeat > 0 else 20.0
    return seconds * 1.5 + SILENCE_GRACE


def _encoded(codec: Codec, request: Mapping[str, Any]) -> bytes:
    """``request`` in ``codec``. A codec's ``encode`` is typed for the server's
    envelopes, but the built-in ones encode any document msgspec can, maps too."""
    return codec.encode(cast(Envelope, request))


def _decoded(codec: Codec, data: bytes | str) -> Envelope | None:
    """An envelope, or ``None`` (logged) for bytes that are not one."""
    try:
        document = codec.decode(data.encode() if isinstance(data, str) else data)
        return msgspec.convert(document, Envelope)
    except (DecodeError, msgspec.ValidationError) as exc:
        log.warning("skipping a frame that is not an envelope: %s", exc)
        return None


#: The error code of an HTTP status, for answers that carry none.
_STATUS_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    406: "invalid",
    409: "conflict",
    413: "too_large",
    415: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


def _document(raw: bytes, content_type: str) -> Any:
    """The document of an HTTP body in a codec the client speaks, or ``None``."""
    codec = CODECS.for_content_type(content_type)
    if codec is None and content_type.endswith("+json"):
        codec = _JSON
    if codec is None:
        return None
    try:
        return codec.decode(raw)
    except DecodeError:
        return None


def _error_body(status: int, raw: bytes, document: Any) -> dict[str, Any]:
    """``{"code", "message", ...}`` of a refused HTTP request, whatever its body."""
    if isinstance(document, dict):
        inner = document.get("body") if document.get("op") == "error" else document
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return dict(inner)
    text = raw[:200].decode("utf-8", "replace").strip()
    return {
        "code": _STATUS_CODES.get(status, "internal"),
        "message": text or f"HTTP {status}",
        "status": status,
    }


async def _refusal(response: aiohttp.ClientResponse) -> ClientError:
    raw = await response.read()
    body = _error_body(response.status, raw, _document(raw, response.content_type))
    return ClientError(str(body["code"]), str(body.get("message", "")), body)


# -- WebSocket ----------------------------------------------------------------------------


class WebSocketTransport:
    """``/ws`` over aiohttp, the codec asked for as subprotocol ``homer.<codec>``."""

    name: ClassVar[str] = "websocket"

    def __init__(
        self,
        url: str,
        deliver: Deliver,
        *,
        codec: ClientCodec = "json",
        ssl_context: ssl.SSLContext | None = None,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self.codec = _codec(codec)
        self._deliver = deliver
        self._ssl = ssl_context
        self._http = http
        self._owns_http = http is None
        #: The aiohttp WebSocket, once open.
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self, hello: Hello) -> dict[str, Any]:
        if self._http is None:
            self._http = http_session(self._ssl, keepalive=False)
        subprotocol = f"homer.{self.codec.name}"
        ws = self.ws = await self._http.ws_connect(
            self.url + "/ws", autoping=True, max_msg_size=0, protocols=(subprotocol,)
        )
        # A server from before negotiation answers without a subprotocol, in JSON.
        if ws.protocol != subprotocol and not (ws.protocol is None and self.codec.name == "json"):
            raise ClientError("invalid", f"{self.url} does not speak {subprotocol}")
        await ws.send_bytes(_encoded(self.codec, hello.request(HELLO_RID)))
        while True:  # the welcome is the first frame answering the hello
            message = await ws.receive()
            if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise ConnectionLost(f"connection closed during hello: {message.extra}")
            envelope = _decoded(self.codec, message.data)
            if envelope is None:
                continue
            if envelope.rid == HELLO_RID and envelope.op in ("reply", "error"):
                return _welcome(envelope)
            self._deliver(envelope)

    async def send(self, op: str, rid: RequestId, params: Mapping[str, Any]) -> None:
        ws = self.ws
        if ws is None or ws.closed:
            raise ConnectionLost("not connected")
        try:
            await ws.send_bytes(_encoded(self.codec, {"op": op, "rid": rid, **params}))
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectionLost(f"could not send {op}: {exc}") from exc

    async def run(self) -> None:
        ws = self.ws
        if ws is None:
            return
        try:
            async for message in ws:
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    envelope = _decoded(self.codec, message.data)
                    if envelope is not None:
                        self._deliver(envelope)
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


class TCPTransport:
    """Raw TCP: the greeting ``homer/1 <codec> <framing>``, then the WebSocket's
    requests and envelopes in that framing (:mod:`homer.protocol.framing`).

    The server's ``ping`` events are answered here and its ``close`` event ends
    the connection; neither reaches the client's events.
    """

    name: ClassVar[str] = "tcp"

    def __init__(
        self,
        url: str,
        deliver: Deliver,
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
        self.codec = _codec(codec)
        self.framing_name = check_framing(codec, framing)
        self._framing: LineFraming | LengthPrefixedFraming = (
            LineFraming(MAX_INCOMING)
            if self.framing_name == "lines"
            else LengthPrefixedFraming(MAX_INCOMING)
        )
        self._deliver = deliver
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        #: What came after the welcome in the same read, for :meth:`run`.
        self._backlog: list[Envelope] = []
        self._silence = _silence({})
        self._ended = False
        #: The server's ``close`` event (``{"code", "reason"}``), when it sent one.
        self.close_reason: dict[str, Any] | None = None

    def _frame(self, document: Mapping[str, Any]) -> bytes:
        return self._framing.frame(_encoded(self.codec, document))

    async def open(self, hello: Hello) -> dict[str, Any]:
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
                    welcome = _welcome(envelope)
                elif envelope.op == "hello" and envelope.rid is None:
                    continue  # the server took the greeting
                elif envelope.op == "error" and envelope.rid is None:
                    _welcome(envelope)  # it refused the greeting: raises
                else:
                    self._deliver(envelope)
            if welcome is None and self._ended:
                raise ConnectionLost(f"the server closed during hello: {self.close_reason}")
        self._silence = _silence(welcome)
        return welcome

    def _envelopes(self, data: bytes) -> list[Envelope]:
        """The envelopes in ``data``, less what concerns the connection alone."""
        envelopes: list[Envelope] = []
        for frame in self._framing.feed(data):
            envelope = _decoded(self.codec, frame)
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
            self._deliver(envelope)
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
                self._deliver(envelope)

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


# -- over HTTP: SSE and long-poll ---------------------------------------------------------


class _OverHTTP(abc.ABC):
    """What SSE and long-poll share: requests as ``POST /api/ops/{op}`` on a
    keep-alive HTTP session, bound to the stream or queue by its session id."""

    name: ClassVar[str]

    def __init__(
        self,
        url: str,
        deliver: Deliver,
        *,
        codec: ClientCodec = "json",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.codec = _codec(codec)
        self._deliver = deliver
        self._ssl = ssl_context
        self._http: aiohttp.ClientSession | None = None
        self._token = ""
        self._agent = "homer-python"
        #: The server's id of the stream or queue, sent with every request.
        self.session: str | None = None
        self._closed = False

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = http_session(self._ssl, keepalive=True)
        return self._http

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "User-Agent": self._agent, **extra}

    def _start(self, hello: Hello) -> None:
        self._token, self._agent = hello.token, hello.client

    @abc.abstractmethod
    def abort(self) -> None: ...

    async def send(self, op: str, rid: RequestId, params: Mapping[str, Any]) -> None:
        if self._closed or self.session is None:
            raise ConnectionLost("not connected")
        media = media_type(self.codec)
        headers = self._headers(
            **{"Content-Type": media, "Accept": media, SESSION_HEADER: self.session}
        )
        try:
            async with self._client().post(
                f"{self.url}/api/ops/{quote(op, safe='')}",
                data=_encoded(self.codec, params),
                headers=headers,
                timeout=_REQUEST_TIMEOUT,
            ) as response:
                raw = await response.read()
                status, document = response.status, _document(raw, response.content_type)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            # The node is out of reach, and so the stream is too: start over.
            self.abort()
            raise ConnectionLost(f"{op} over HTTP failed: {exc!r}") from exc
        envelope = self._envelope(status, raw, document)
        body = envelope.body if isinstance(envelope.body, dict) else {}
        if envelope.op == "error" and body.get("fields") == _SESSION_GONE:
            self.abort()  # the server dropped the stream or queue before we heard
            raise ConnectionLost(str(body.get("message")))
        if op == "refresh" and envelope.op == "reply" and isinstance(body.get("token"), str):
            self._token = body["token"]
        self._deliver(msgspec.structs.replace(envelope, rid=rid))

    @staticmethod
    def _envelope(status: int, raw: bytes, document: Any) -> Envelope:
        if isinstance(document, dict) and isinstance(document.get("op"), str):
            with contextlib.suppress(msgspec.ValidationError):
                return msgspec.convert(document, Envelope)
        if status < 400:
            return Envelope(op="reply", body=document)
        return Envelope(op="error", body=_error_body(status, raw, document))

    async def _close_http(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


class SSETransport(_OverHTTP):
    """``GET /api/events`` for the events; requests over ``POST /api/ops``.

    A reconnection sends the client's positions as ``Last-Event-ID``. The stream
    carries JSON; ``codec`` is that of the requests and their answers.
    """

    name: ClassVar[str] = "sse"

    def __init__(
        self,
        url: str,
        deliver: Deliver,
        *,
        codec: ClientCodec = "json",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(url, deliver, codec=codec, ssl_context=ssl_context)
        self._parser = EventStreamParser(limit=MAX_INCOMING)
        self._response: aiohttp.ClientResponse | None = None
        #: What came after ``ready`` in the same read, for :meth:`run`.
        self._backlog: list[ServerSentEvent] = []
        self._silence = _silence({})
        #: The server's ``close`` event (``{"code", "reason"}``), when it sent one.
        self.close_reason: dict[str, Any] | None = None

    @property
    def cursor(self) -> str | None:
        """The id of the last event received: the stream's position in every room."""
        return self._parser.last_event_id or None

    async def open(self, hello: Hello) -> dict[str, Any]:
        self._start(hello)
        headers = self._headers(Accept="text/event-stream")
        if hello.resume:
            headers["Last-Event-ID"] = hello.cursor()
        response = self._response = await self._client().get(
            self.url + "/api/events", headers=headers, timeout=_STREAM_TIMEOUT
        )
        if response.status != 200:
            raise await _refusal(response)
        welcome: dict[str, Any] | None = None
        while welcome is None:
            chunk = await response.content.readany()
            if not chunk:
                raise ConnectionLost("the event stream ended before it was ready")
            for event in self._parser.feed(chunk):
                if welcome is not None:
                    self._backlog.append(event)
                elif event.event == "ready":
                    envelope = _decoded(_JSON, event.data)
                    welcome = envelope.body if envelope and isinstance(envelope.body, dict) else {}
                elif not self._handle(event):
                    raise ConnectionLost(f"the event stream closed: {self.close_reason}")
        self.session = str(welcome.get("session", ""))
        self._silence = _silence(welcome)
        return welcome

    def _handle(self, event: ServerSentEvent) -> bool:
        """Hand one event on; ``False`` once the server said it closes."""
        if event.event == "close":
            with contextlib.suppress(DecodeError):
                reason = _JSON.decode(event.data.encode())
                self.close_reason = reason if isinstance(reason, dict) else {}
            log.debug("%s closed the event stream: %s", self.url, self.close_reason)
            return False
        envelope = _decoded(_JSON, event.data)
        if envelope is not None:
            self._deliver(envelope)
        return True

    async def run(self) -> None:
        response = self._response
        if response is None or self._closed:
            return
        backlog, self._backlog = self._backlog, []
        for event in backlog:
            if not self._handle(event):
                return
        while True:
            try:
                async with asyncio.timeout(self._silence):
                    chunk = await response.content.readany()
                events = self._parser.feed(chunk) if chunk else None
            except (aiohttp.ClientError, OSError, TimeoutError, FrameTooLarge) as exc:
                log.debug("event stream from %s failed: %r", self.url, exc)
                return
            if events is None:
                return
            for event in events:
                if not self._handle(event):
                    return

    def abort(self) -> None:
        response = self._response
        connection = response.connection if response is not None else None
        transport = connection.transport if connection is not None else None
        if transport is not None:
            transport.abort()
        elif response is not None:
            response.close()

    async def close(self) -> None:
        self._closed = True
        if self._response is not None:
            self._response.close()
        await self._close_http()


class _Polled(msgspec.Struct):
    id: int
    event: Envelope
    cursor: str = ""


class _Batch(msgspec.Struct):
    events: list[_Polled] = msgspec.field(default_factory=list)
    last_event_id: int = 0
    cursor: str = ""
    heartbeat: bool = False
    replaced: bool = False


class LongPollTransport(_OverHTTP):
    """A queue at ``/api/queues``, polled in a loop; requests over ``POST /api/ops``.

    A reconnection registers a new queue with the client's positions as its
    ``cursor``; the old queue is deleted when the connection closes. ``codec``
    is that of the queue's answers (asked for with ``Accept``), of the requests
    and of their answers.
    """

    name: ClassVar[str] = "longpoll"
    #: Seconds a poll waits for events before the server answers with none.
    poll_wait: ClassVar[float] = 20.0
    #: Seconds a poll may take past that before it counts as lost.
    poll_grace: ClassVar[float] = 10.0

    def __init__(
        self,
        url: str,
        deliver: Deliver,
        *,
        codec: ClientCodec = "json",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(url, deliver, codec=codec, ssl_context=ssl_context)
        #: The queue's id, once registered.
        self.queue: str | None = None
        self._after = 0
        self._stopped = False
        self._gone = False
        self._deadline: asyncio.Timeout | None = None

    async def open(self, hello: Hello) -> dict[str, Any]:
        self._start(hello)
        asked = {"cursor": hello.cursor()} if hello.resume else {}
        async with self._client().post(
            self.url + "/api/queues",
            data=_encoded(_JSON, asked),
            headers=self._headers(
                **{"Content-Type": _JSON.media_type, "Accept": media_type(self.codec)}
            ),
            timeout=_REQUEST_TIMEOUT,
        ) as response:
            if response.status >= 300:
                raise await _refusal(response)
            registration = _document(await response.read(), response.content_type)
        if not isinstance(registration, dict) or not isinstance(registration.get("queue"), str):
            raise ClientError("internal", f"{self.url} answered the registration with no queue")
        self.queue = registration["queue"]
        self.session = str(registration.get("session", ""))
        self._after = int(registration.get("last_event_id", 0))
        return registration

    async def run(self) -> None:
        if self.queue is None:
            return
        url = f"{self.url}/api/queues/{quote(self.queue, safe='')}/events"
        wait = str(self.poll_wait)
        while not self._stopped:
            try:
                async with asyncio.timeout(self.poll_wait + self.poll_grace) as deadline:
                    self._deadline = deadline
                    async with self._client().get(
                        url,
                        params={"after": str(self._after), "timeout": wait},
                        headers=self._headers(),
                        timeout=_STREAM_TIMEOUT,
                    ) as response:
                        status, raw = response.status, await response.read()
                        codec = CODECS.for_content_type(response.content_type) or _JSON
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.debug("poll of %s failed: %r", self.url, exc)
                return
            finally:
                self._deadline = None
            if status != 200:
                # 404: the queue was dropped (too slow, idle, token ended); 401: the
                # token ended. Either way: a new connection, resuming from the positions.
                self._gone = status == 404
                log.debug("poll of %s answered %s: %r", self.url, status, raw[:200])
                return
            try:
                batch = msgspec.convert(codec.decode(raw), _Batch)
            except (DecodeError, msgspec.ValidationError) as exc:
                log.warning("skipping a poll answer that is not a batch: %s", exc)
                return
            for polled in batch.events:
                self._deliver(polled.event)
                self._after = polled.id  # acknowledged by the next poll

    def abort(self) -> None:
        self._stopped = True
        deadline = self._deadline
        if deadline is not None:
            with contextlib.suppress(RuntimeError):  # it is expiring already
                deadline.reschedule(asyncio.get_running_loop().time())

    async def close(self) -> None:
        if self._closed:
            return
        self.abort()
        self._closed = True
        if self.queue is not None and not self._gone and self._http is not None:
            # Free the queue (it counts as a connection) rather than wait for it to idle out.
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with self._http.delete(
                    f"{self.url}/api/queues/{quote(self.queue, safe='')}",
                    headers=self._headers(),
                    timeout=aiohttp.ClientTimeout(total=2.0),
                ):
                    pass
        await self._close_http()
