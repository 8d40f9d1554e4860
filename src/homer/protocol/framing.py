"""Framings for stream transports (raw TCP): bytes in, frames out. Sans-I/O.

A framing cuts a byte stream into frames, each one encoded document, and puts
a frame around an encoded document going out. Two are built in:

- ``lines``: one document per line, ``\\n``-terminated (a ``\\r`` before it is
  dropped, blank lines are skipped), for people with ``nc`` or ``telnet`` and
  for text codecs only (a binary codec's bytes may hold a newline);
- ``length``: a 4-byte big-endian length, then that many bytes: any codec.

Both refuse a frame longer than their limit as soon as they can tell, without
buffering it: a line once more than the limit has arrived without its end, a
length prefix as soon as its four bytes are in.

The first line of a TCP connection picks the codec and the framing
(:func:`parse_greeting`); docs/protocol.md is the specification.
"""

from __future__ import annotations

import re
import struct
from typing import ClassVar, Protocol

__all__ = [
    "FRAMINGS",
    "FrameTooLarge",
    "Framing",
    "Greeting",
    "GreetingError",
    "LengthPrefixedFraming",
    "LineFraming",
    "parse_greeting",
]


class FrameTooLarge(Exception):
    """A frame is longer than the limit; the stream cannot be trusted past it."""


class GreetingError(Exception):
    """The first line does not name a protocol version, codec and framing this
    server speaks."""


class Framing(Protocol):
    name: ClassVar[str]
    #: Whether it can carry a binary codec's bytes.
    binary: ClassVar[bool]

    def feed(self, data: bytes) -> list[bytes]:
        """The frames completed by ``data``; raises :class:`FrameTooLarge`."""

    @staticmethod
    def frame(payload: bytes) -> bytes:
        """``payload`` as it goes on the wire."""


class LineFraming:
    name: ClassVar[str] = "lines"
    binary: ClassVar[bool] = False

    __slots__ = ("_pending", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._pending + data if self._pending else data
        lines = buffer.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > self.limit:
            self._pending = b""
            raise FrameTooLarge(f"a line is longer than {self.limit} bytes")
        frames: list[bytes] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.limit:
                raise FrameTooLarge(f"a line is longer than {self.limit} bytes")
            if line.strip():
                frames.append(line)
        return frames

    @staticmethod
    def frame(payload: bytes) -> bytes:
        return payload + b"\n"


_LENGTH = struct.Struct(">I")


class LengthPrefixedFraming:
    name: ClassVar[str] = "length"
    binary: ClassVar[bool] = True

    __slots__ = ("_pending", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        pending = self._pending
        pending += data
        frames: list[bytes] = []
        start = 0
        while len(pending) - start >= 4:
            (size,) = _LENGTH.unpack_from(pending, start)
            if size > self.limit:
                del pending[:]
                raise FrameTooLarge(f"a frame of {size} bytes is longer than {self.limit}")
            end = start + 4 + size
            if len(pending) < end:
                break
            frames.append(bytes(pending[start + 4 : end]))
            start = end
        if start:
            del pending[:start]
        return frames

    @staticmethod
    def frame(payload: bytes) -> bytes:
        return _LENGTH.pack(len(payload)) + payload


FRAMINGS: dict[str, type[LineFraming] | type[LengthPrefixedFraming]] = {
    LineFraming.name: LineFraming,
    LengthPrefixedFraming.name: LengthPrefixedFraming,
}

_GREETING = re.compile(rb"^homer/1 +([a-z0-9][a-z0-9._+-]{0,63}) +([a-z]+) *\r?$")


class Greeting:
    """What a connection's first line asked for."""

    __slots__ = ("codec", "framing")

    def __init__(self, codec: str, framing: str) -> None:
        self.codec = codec
        self.framing = framing


def parse_greeting(line: bytes) -> Greeting | None:
    """``homer/1 <codec> <framing>`` -> a :class:`Greeting`; a line that does not
    start with ``homer/`` -> ``None`` (it is the first request, in JSON lines);
    anything else starting with ``homer/`` -> :class:`GreetingError`."""
    if not line.startswith(b"homer/"):
        return None
    match = _GREETING.match(line)
    if match is None:
        raise GreetingError(
            "the first line is 'homer/1 <codec> <framing>', e.g. 'homer/1 json lines'"
        )
    codec, framing = match[1].decode(), match[2].decode()
    if framing not in FRAMINGS:
        raise GreetingError(f"unknown framing {framing!r}: use one of {', '.join(FRAMINGS)}")
    return Greeting(codec, framing)
