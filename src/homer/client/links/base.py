"""What every link shares: the interface, the hello, the codecs, and the helpers
that read a server's answers.

A :class:`Link` is one connection to one node (:mod:`homer.client.links` draws
them all). It is made by the client, opened with a :class:`ClientHello`, and
hands every envelope it receives to an :data:`OnEnvelope` callback.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, cast

import aiohttp
import msgspec

from homer.client.errors import ClientError
from homer.protocol.codecs import Codec, CodecRegistry, DecodeError, JSONCodec, MessagePackCodec
from homer.protocol.cursor import encode_cursor
from homer.protocol.envelope import Envelope, RequestId

__all__ = [
    "CODECS",
    "HELLO_RID",
    "JSON_CODEC",
    "MAX_INCOMING",
    "ClientCodec",
    "ClientHello",
    "Link",
    "OnEnvelope",
    "decode_envelope",
    "encode_request",
    "error_body",
    "find_codec",
    "http_document",
    "http_session",
    "refusal",
    "silence_limit",
    "welcome_body",
]

log = logging.getLogger("homer.client")

ClientCodec = Literal["json", "msgpack"]

#: A callback that takes every envelope a connection receives, in order.
OnEnvelope = Callable[[Envelope], None]

#: The request id of the hello each stream link sends; the client's own are
#: integers and ``s:<cid>``, so they never meet it.
HELLO_RID = "hello"
#: The longest frame, stream line or event a client accepts from a server.
MAX_INCOMING = 1 << 26
#: Seconds of silence a stream waits past the server's heartbeat before it gives up.
SILENCE_GRACE = 5.0

#: The codecs the client speaks: the server's own, by the names ``codec=`` takes.
CODECS = CodecRegistry([JSONCodec(), MessagePackCodec()])
#: What SSE events and long-poll registrations are in, whatever the codec of the requests.
JSON_CODEC = JSONCodec()


def find_codec(name: str) -> Codec:
    """The codec called ``name``, or ``ValueError``."""
    codec = CODECS.get(name)
    if codec is None:
        raise ValueError(f"unknown codec {name!r}: choose one of {', '.join(CODECS.names)}")
    return codec


# -- what a connection starts with ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientHello:
    """What a connection says first: who, and where it stopped in each room."""

    token: str
    #: The client's name and version, for the server's logs.
    client: str = "homer-python"
    #: Room -> ``(epoch, seq)``: the last message processed in each room.
    resume: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def request(self, rid: RequestId) -> dict[str, Any]:
        """The ``hello`` request of a stream link (WebSocket, raw TCP)."""
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


class Link(Protocol):
    """One connection to one node. Made by the client, used once.

    Errors: ``open`` raises :class:`ClientError` when the server refuses (a bad
    token, too many connections), and :class:`ConnectionLost`, ``OSError`` or
    ``aiohttp.ClientError`` when the node cannot be reached; ``send`` raises
    :class:`ConnectionLost` when the request could not go out. ``run`` returns
    when the connection ends, whoever ended it; it raises nothing.
    """

    #: The name ``transport=`` takes.
    name: ClassVar[str]

    async def open(self, hello: ClientHello) -> dict[str, Any]:
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


# -- what the links share ---------------------------------------------------------------


def http_session(ssl_context: ssl.SSLContext | None, *, keepalive: bool) -> aiohttp.ClientSession:
    """An aiohttp session; without keep-alive, each request gets a fresh connection
    (a WebSocket then never rides on one that carried HTTP: the server's lean path)."""
    connector = aiohttp.TCPConnector(force_close=not keepalive, ssl=ssl_context or True)
    return aiohttp.ClientSession(connector=connector)


def welcome_body(envelope: Envelope) -> dict[str, Any]:
    """The body of the answer to a hello, or the refusal as :class:`ClientError`."""
    body = envelope.body if isinstance(envelope.body, dict) else {}
    if envelope.op == "error":
        raise ClientError(str(body.get("code", "internal")), str(body.get("message", "")), body)
    return body


def silence_limit(welcome: Mapping[str, Any]) -> float:
    """How long a stream may stay silent before it counts as dead: the server
    speaks at least every ``heartbeat`` seconds (a ping when nothing else)."""
    heartbeat = welcome.get("heartbeat")
    seconds = float(heartbeat) if isinstance(heartbeat, int | float) and heartbeat > 0 else 20.0
    return seconds * 1.5 + SILENCE_GRACE


def encode_request(codec: Codec, request: Mapping[str, Any]) -> bytes:
    """``request`` in ``codec``. A codec's ``encode`` is typed for the server's
    envelopes, but the built-in ones encode any document msgspec can, maps too."""
    return codec.encode(cast(Envelope, request))


def decode_envelope(codec: Codec, data: bytes | str) -> Envelope | None:
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
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def http_document(raw: bytes, content_type: str) -> Any:
    """The document of an HTTP body in a codec the client speaks, or ``None``."""
    codec = CODECS.for_content_type(content_type)
    if codec is None and content_type.endswith("+json"):
        codec = JSON_CODEC
    if codec is None:
        return None
    try:
        return codec.decode(raw)
    except DecodeError:
        return None


def error_body(status: int, raw: bytes, document: Any) -> dict[str, Any]:
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


async def refusal(response: aiohttp.ClientResponse) -> ClientError:
    """The refusal of an HTTP request, as the error the client raises."""
    raw = await response.read()
    body = error_body(response.status, raw, http_document(raw, response.content_type))
    return ClientError(str(body["code"]), str(body.get("message", "")), body)
