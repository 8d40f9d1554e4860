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

An application adds its own with ``app.add_framing`` (:class:`FramingRegistry`);
docs/topics/framing.md says how to write one. The first line of a TCP connection
picks the codec and the framing (:func:`parse_greeting`); docs/protocol.md is the
specification.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Collection, Iterable, Iterator
from typing import ClassVar, Protocol

__all__ = [
    "FRAMINGS",
    "FRAMING_NAME",
    "FrameTooLarge",
    "Framing",
    "FramingRegistry",
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
    """A framing class: one instance per connection, made with the largest frame it takes."""

    #: What the greeting names it by (:data:`FRAMING_NAME`).
    name: ClassVar[str]
    #: Whether it can carry a binary codec's bytes.
    binary: ClassVar[bool]

    def __init__(self, limit: int) -> None: ...

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
        # The line in progress. Each byte is looked at once, however the line is cut:
        # a line sent a byte at a time is not copied and searched again for each byte.
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        pending = self._pending
        lines = data.split(b"\n")
        tail = lines.pop()
        if lines and pending:
            pending += lines[0]
            lines[0] = bytes(pending)
            del pending[:]
        pending += tail
        # A line of the limit may wait for its "\n" with its "\r" already in.
        if len(pending) > self.limit and (len(pending) > self.limit + 1 or pending[-1] != 13):
            del pending[:]
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


#: The built-in framings, by name.
FRAMINGS: dict[str, type[Framing]] = {
    LineFraming.name: LineFraming,
    LengthPrefixedFraming.name: LengthPrefixedFraming,
}

#: What a framing may be called: a word the greeting can name.
FRAMING_NAME = re.compile(r"[a-z]{1,32}")


class FramingRegistry:
    """The framings a server's stream transports speak, by name, in the order added."""

    __slots__ = ("_framings",)

    def __init__(self, framings: Iterable[type[Framing]] = ()) -> None:
        self._framings: dict[str, type[Framing]] = {}
        for framing in framings:
            self.add(framing)

    def add(self, framing: type[Framing]) -> None:
        """Register the class ``framing`` under its name, replacing any of that name.

        Connections already open keep the framing they asked for.
        """
        name = getattr(framing, "name", None)
        if not isinstance(name, str) or not FRAMING_NAME.fullmatch(name):
            raise ValueError(f"a framing's name is 1-32 of a-z; got {name!r}")
        if not isinstance(getattr(framing, "binary", None), bool):
            raise TypeError(f"framing {name!r}: 'binary' must be True or False")
        if not isinstance(framing, type):
            raise TypeError(f"framing {name!r}: register the class, not an instance")
        if not callable(getattr(framing, "feed", None)) or not callable(
            getattr(framing, "frame", None)
        ):
            raise TypeError(f"framing {name!r} needs feed() and frame() methods")
        self._framings[name] = framing

    def get(self, name: str) -> type[Framing] | None:
        return self._framings.get(name)

    @property
    def names(self) -> list[str]:
        """Every registered name, in the order the framings were first added."""
        return list(self._framings)

    def __contains__(self, name: object) -> bool:
        return name in self._framings

    def __iter__(self) -> Iterator[type[Framing]]:
        return iter(self._framings.values())

    def __len__(self) -> int:
        return len(self._framings)


_GREETING = re.compile(rb"^homer/1 +([a-z0-9][a-z0-9._+-]{0,63}) +([a-z]+) *\r?$")


class Greeting:
    """What a connection's first line asked for."""

    __slots__ = ("codec", "framing")

    def __init__(self, codec: str, framing: str) -> None:
        self.codec = codec
        self.framing = framing


def parse_greeting(line: bytes, framings: Collection[str] = FRAMINGS) -> Greeting | None:
    """``homer/1 <codec> <framing>`` -> a :class:`Greeting`; a line that does not
    start with ``homer/`` -> ``None`` (it is the first request, in JSON lines);
    anything else starting with ``homer/``, or naming a framing not in ``framings``
    (by default the built-in ones) -> :class:`GreetingError`."""
    if not line.startswith(b"homer/"):
        return None
    match = _GREETING.match(line)
    if match is None:
        raise GreetingError(
            "the first line is 'homer/1 <codec> <framing>', e.g. 'homer/1 json lines'"
        )
    codec, framing = match[1].decode(), match[2].decode()
    if framing not in framings:
        raise GreetingError(f"unknown framing {framing!r}: use one of {', '.join(framings)}")
    return Greeting(codec, framing)
