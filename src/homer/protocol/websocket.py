"""The server side of WebSocket (RFC 6455), sans-I/O: bytes in, events out, bytes to write.

The transport owns the socket; this module only checks the opening handshake,
parses what a client sends and encodes what the server sends. Server frames are
never masked, so a frame is encoded once and the same bytes are written to every
member of a room. No extension is negotiated: every RSV bit must be clear.

A parser is kept per connection for as long as it is open, so an idle one holds
a few ints and ``None`` and nothing else; buffers exist only while a frame or a
fragmented message is partly received.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "BinaryMessage",
    "CloseReceived",
    "Event",
    "FrameParser",
    "HandshakeError",
    "InvalidUTF8",
    "MessageTooBig",
    "Ping",
    "Pong",
    "ProtocolViolation",
    "TextMessage",
    "WebSocketError",
    "accept_key",
    "binary_frame",
    "check_upgrade",
    "close_frame",
    "encode_frame",
    "handshake_response",
    "ping_frame",
    "pong_frame",
    "text_frame",
]

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- errors -----------------------------------------------------------------------------


class WebSocketError(Exception):
    """The client broke the protocol; fail the connection with a close frame of ``close_code``.

    ``events`` holds what the same :meth:`FrameParser.feed` call had parsed before
    the violation: those messages were valid and may still be delivered.
    """

    close_code: int = 1002

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.events: list[Event] = []


class ProtocolViolation(WebSocketError):
    close_code = 1002


class InvalidUTF8(WebSocketError):
    """A text message or a close reason is not UTF-8."""

    close_code = 1007


class MessageTooBig(WebSocketError):
    close_code = 1009


class HandshakeError(Exception):
    """The opening handshake is refused; answer with ``status`` and close the connection."""

    def __init__(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        #: Extra response headers, e.g. the version hint that goes with a 426.
        self.headers = tuple(headers)

    def response(self) -> bytes:
        """The complete HTTP error response, ready to write before closing."""
        # The reason may quote the client (its method), escaped bytes and all.
        body = self.reason.encode("utf-8", "backslashreplace")
        lines = [
            f"HTTP/1.1 {self.status} {_STATUS_TEXT.get(self.status, 'Error')}",
            *(f"{name}: {value}" for name, value in self.headers),
            "Content-Type: text/plain; charset=utf-8",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_STATUS_TEXT: Final = {
    400: "Bad Request",
    403: "Forbidden",
    426: "Upgrade Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
}


# -- the opening handshake ----------------------------------------------------------------


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value that proves the server read ``key``."""
    digest = hashlib.sha1(key.encode("ascii") + _GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


def check_upgrade(method: str, headers: Mapping[str, str]) -> str:
    """Check a client's opening handshake and return its ``Sec-WebSocket-Key``.

    ``headers`` maps lower-cased names to values. A missing or unusable header is
    a 400; a version other than 13 is a 426 that names the version we speak.
    """
    if method != "GET":
        raise HandshakeError(400, f"a WebSocket handshake is a GET, not {method}")
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        raise HandshakeError(400, "the Upgrade header must name websocket")
    if "upgrade" not in _tokens(headers.get("connection", "")):
        raise HandshakeError(400, "the Connection header must contain upgrade")
    version = headers.get("sec-websocket-version")
    if version is None:
        raise HandshakeError(400, "the Sec-WebSocket-Version header is missing")
    if version.strip() != "13":
        raise HandshakeError(
            426, "only WebSocket version 13 is supported", [("Sec-WebSocket-Version", "13")]
        )
    key = headers.get("sec-websocket-key", "").strip()
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 bytes in base64")
    return key


def handshake_response(
    key: str,
    *,
    subprotocol: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """The ``101 Switching Protocols`` response that accepts the handshake for ``key``."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
    ]
    headers = list(extra_headers)
    if subprotocol is not None:
        headers.insert(0, ("Sec-WebSocket-Protocol", subprotocol))
    for name, value in headers:
        # A CR or LF would let a caller's value start a header or a body of its own.
        if not name or any(c in name for c in "\r\n:") or "\r" in value or "\n" in value:
            raise ValueError(f"invalid response header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- encoding frames ----------------------------------------------------------------------

#: Two-byte headers for every short payload, by first byte (FIN and opcode). Control
#: frames are never fragmented, so there is no entry for them without FIN.
_SHORT_HEADERS: Final = {
    first: [bytes((first, length)) for length in range(126)]
    for first in (0x00, 0x01, 0x02, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8A)
}
_HEADER_16: Final = struct.Struct("!BBH").pack
_HEADER_64: Final = struct.Struct("!BBQ").pack


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One unmasked server frame; encode once, write the same bytes to every recipient."""
    first = opcode | 0x80 if fin else opcode
    length = len(payload)
    try:
        headers = _SHORT_HEADERS[first]
    except KeyError:
        raise ValueError(f"cannot encode opcode {opcode:#x} with fin={fin}") from None
    if length < 126:
        return headers[length] + payload
    if opcode & 0x8:
        raise ValueError("a control frame carries at most 125 bytes")
    if length < 0x10000:
        return _HEADER_16(first, 126, length) + payload
    return _HEADER_64(first, 127, length) + payload


def text_frame(payload: bytes) -> bytes:
    """A whole text message; ``payload`` must already be UTF-8."""
    return encode_frame(TEXT, payload)


def binary_frame(payload: bytes) -> bytes:
    return encode_frame(BINARY, payload)


def ping_frame(payload: bytes = b"") -> bytes:
    return encode_frame(PING, payload)


def pong_frame(payload: bytes = b"") -> bytes:
    return encode_frame(PONG, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame; a server may also send 1012-1014 (restart, try later, bad gateway)."""
    if not (_valid_close_code(code) or 1012 <= code <= 1014):
        raise ValueError(f"{code} is not a close code an endpoint may send")
    payload = code.to_bytes(2, "big") + reason.encode()
    if len(payload) > 125:
        raise ValueError("a close reason is at most 123 bytes of UTF-8")
    return encode_frame(CLOSE, payload)


def _valid_close_code(code: int) -> bool:
    """Codes a client may send: the registered ones, and the 3000-4999 private range.

    1004-1006 and 1015 are reserved for reporting and never sent; the rest of
    1000-2999 is unassigned, and Autobahn's suite expects it refused.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999


# -- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A whole text message; ``data`` is its UTF-8, already validated."""

    data: bytes


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """Answer with a pong carrying the same payload."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The client closed; ``code`` is ``None`` when its close frame was empty."""

    code: int | None
    reason: str


Event: TypeAlias = TextMessage | BinaryMessage | Ping | Pong | CloseReceived


# -- parsing client frames ----------------------------------------------------------------

#: ``FrameParser._op`` once a close frame arrived, and once the client broke the protocol.
_CLOSED: Final = -1
_FAILED: Final = -2

_XOR_TABLES: Final = [bytes(b ^ k for b in range(256)) for k in range(256)]
#: Above this size, four strided ``bytes.translate`` calls unmask faster than one big-int XOR.
_TRANSLATE_FROM: Final = 1024

_utf8_decoder = codecs.getincrementaldecoder("utf-8")


def _unmask(data: bytes, mask: bytes) -> bytes:
    length = len(data)
    if length < _TRANSLATE_FROM:
        key = (mask * ((length >> 2) + 1))[:length]
        return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(
            length, "little"
        )
    out = bytearray(length)
    tables = _XOR_TABLES
    out[0::4] = data[0::4].translate(tables[mask[0]])
    out[1::4] = data[1::4].translate(tables[mask[1]])
    out[2::4] = data[2::4].translate(tables[mask[2]])
    out[3::4] = data[3::4].translate(tables[mask[3]])
    return bytes(out)


class FrameParser:
    """Turns the bytes a client sends into events, across any split of its frames.

    Feed whatever the socket read; every event completed by it comes back. A
    :class:`WebSocketError` means the connection must be failed with its
    ``close_code``; the parser then refuses more input. Bytes after a close frame
    are ignored, since the client may send nothing after it.
    """

    __slots__ = ("_ctl", "_frame", "_head", "_left", "_mask", "_op", "_parts", "_size",
                 "_utf8", "max_message")  # fmt: skip

    def __init__(self, *, max_message: int = 1 << 20) -> None:
        #: The largest message accepted, counting every fragment's payload.
        self.max_message = max_message
        # The start of a frame whose header is not complete yet.
        self._head: bytes | None = None
        # The current frame's mask, rotated past what was consumed; None between frames.
        self._mask: bytes | None = None
        # The current frame's first byte (FIN and opcode), and its payload still to come.
        self._frame = 0
        self._left = 0
        # The data message in progress: TEXT, BINARY, or 0 for none (or _CLOSED, _FAILED).
        self._op = 0
        self._size = 0
        self._parts: list[bytes] | None = None
        self._utf8: codecs.IncrementalDecoder | None = None
        # A control frame's payload while it arrives in pieces.
        self._ctl: bytes | None = None

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``; return the messages, pings, pongs and close it completed.

        On a violation the events parsed before it are on the exception's ``events``.
        """
        if self._op < 0:
            if self._op == _CLOSED:
                return []
            raise ProtocolViolation("the connection has already failed")
        events: list[Event] = []
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        try:
            self._parse(data, events)
        except WebSocketError as exc:
            exc.events = events
            self._finish(_FAILED)
            raise
        return events

    def _finish(self, state: int) -> None:
        self._op = state
        self._head = self._mask = self._parts = self._utf8 = self._ctl = None

    def _parse(self, data: bytes, events: list[Event]) -> None:
        end = len(data)
        pos = 0
        while True:
            mask = self._mask
            if mask is None:
                # A frame header: 2 bytes, 0, 2 or 8 of extended length, then the mask.
                if end - pos < 2:
                    if pos < end:
                        self._head = data[pos:]
                    return
                first = data[pos]
                second = data[pos + 1]
                self._check_start(first, second)
                length = second & 0x7F
                size = 6 if length < 126 else 8 if length == 126 else 14
                if end - pos < size:
                    self._head = data[pos:]
                    return
                if length == 126:
                    length = (data[pos + 2] << 8) | data[pos + 3]
                elif length == 127:
                    length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                    if length >> 63:
                        raise ProtocolViolation("the payload length has its high bit set")
                pos += size
                mask = data[pos - 4 : pos]
                opcode = first & 0x0F
                if opcode < 8:
                    total = self._size + length
                    if total > self.max_message:
                        raise MessageTooBig(
                            f"a message of {total} bytes or more is over {self.max_message}"
                        )
                    self._size = total
                    if opcode:
                        self._op = opcode
                self._frame = first
                self._left = length
                self._mask = mask
            elif pos == end:
                return
            # Payload: all of it, or as much as arrived (a zero-length frame ends here).
            left = self._left
            take = end - pos if end - pos < left else left
            chunk = _unmask(data[pos : pos + take], mask) if take else b""
            pos += take
            left -= take
            if left:
                self._left = left
                rotate = take & 3
                if rotate:
                    self._mask = mask[rotate:] + mask[:rotate]
            else:
                self._mask = None
            if self._frame & 0x08:
                if self._control(chunk, not left, events):
                    return
            else:
                self._data(chunk, not left and self._frame & 0x80, events)

    def _check_start(self, first: int, second: int) -> None:
        """Refuse a frame from its first two bytes, before anything else of it arrives."""
        if first & 0x70:
            raise ProtocolViolation("RSV bits are set but no extension was negotiated")
        opcode = first & 0x0F
        if opcode >= 8:
            if opcode > PONG:
                raise ProtocolViolation(f"unknown opcode {opcode:#x}")
            if not first & 0x80:
                raise ProtocolViolation("a control frame cannot be fragmented")
            if second & 0x7F > 125:
                raise ProtocolViolation("a control frame carries at most 125 bytes")
        elif opcode == CONTINUATION:
            if not self._op:
                raise ProtocolViolation("a continuation frame without a message to continue")
        elif opcode > BINARY:
            raise ProtocolViolation(f"unknown opcode {opcode:#x}")
        elif self._op:
            raise ProtocolViolation("a new message began before the last one ended")
        if not second & 0x80:
            raise ProtocolViolation("a client frame must be masked")

    def _data(self, chunk: bytes, last: int, events: list[Event]) -> None:
        """Take a piece of a data message; ``last`` when it completes the message."""
        op = self._op
        parts = self._parts
        if op == TEXT:
            decoder = self._utf8
            if decoder is None and last and parts is None:
                # The whole message in one piece: the common case needs no decoder.
                if not chunk.isascii():
                    try:
                        chunk.decode()
                    except UnicodeDecodeError:
                        raise InvalidUTF8("a text message is not valid UTF-8") from None
            else:
                if decoder is None:
                    decoder = self._utf8 = _utf8_decoder()
                try:
                    decoder.decode(chunk, bool(last))
                except UnicodeDecodeError:
                    raise InvalidUTF8("a text message is not valid UTF-8") from None
                if not last:
                    # CPython holds back a started surrogate (ED A0..BF) instead of
                    # refusing it at once; no continuation could make it valid.
                    pending = decoder.getstate()[0]
                    if len(pending) > 1 and pending[0] == 0xED and pending[1] >= 0xA0:
                        raise InvalidUTF8("a text message encodes a surrogate")
        if last:
            if parts is not None:
                parts.append(chunk)
                chunk = b"".join(parts)
            self._op = self._size = 0
            self._parts = self._utf8 = None
            events.append(TextMessage(chunk) if op == TEXT else BinaryMessage(chunk))
        elif parts is None:
            self._parts = [chunk]
        else:
            parts.append(chunk)

    def _control(self, chunk: bytes, last: bool, events: list[Event]) -> bool:
        """Take a piece of a control frame; return whether it closed the connection."""
        held = self._ctl
        if held is not None:
            chunk = held + chunk
        if not last:
            self._ctl = chunk
            return False
        self._ctl = None
        opcode = self._frame & 0x0F
        if opcode == PING:
            events.append(Ping(chunk))
            return False
        if opcode == PONG:
            events.append(Pong(chunk))
            return False
        events.append(_parse_close(chunk))
        self._finish(_CLOSED)
        return True


def _parse_close(payload: bytes) -> CloseReceived:
    if not payload:
        return CloseReceived(None, "")
    if len(payload) == 1:
        raise ProtocolViolation("a close frame's payload is empty or at least 2 bytes")
    code = (payload[0] << 8) | payload[1]
    if not _valid_close_code(code):
        raise ProtocolViolation(f"{code} is not a valid close code")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise InvalidUTF8("a close reason is not valid UTF-8") from None
    return CloseReceived(code, reason)
