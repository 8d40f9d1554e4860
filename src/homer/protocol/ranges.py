"""HTTP byte ranges (RFC 9110, section 14): the ``Range`` header of a download read
against the size of what is served, and the ``Content-Range`` of the answer.

One range is served; a header that is not one well-formed byte range (a
malformed one, several ranges, another unit) is ignored, as RFC 9110 allows, and
the whole representation is sent. A well-formed range that selects no byte is
:class:`Unsatisfiable` (answered 416 with ``Content-Range: bytes */size``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ByteRange", "Unsatisfiable", "content_range", "parse_range", "unsatisfied_range"]

_RANGE = re.compile(r"bytes=(?:([0-9]+)-([0-9]*)|-([0-9]+))")


class Unsatisfiable(Exception):
    """A well-formed range that selects no byte of the representation."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start <= i < end`` (half open, as a slice)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range ``header`` asks for of ``size`` bytes, cut to them; ``None``
    for the whole (no header, or one to ignore); :class:`Unsatisfiable` when it
    selects nothing."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:  # bytes=-N: the last N bytes
        count = int(suffix)
        if count == 0 or size == 0:
            raise Unsatisfiable(header)
        return ByteRange(max(size - count, 0), size)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable(header)
    end = size if not last else min(int(last) + 1, size)
    return ByteRange(start, end)


def content_range(selected: ByteRange, size: int) -> str:
    """The ``Content-Range`` of a 206 answer."""
    return f"bytes {selected.start}-{selected.end - 1}/{size}"


def unsatisfied_range(size: int) -> str:
    """The ``Content-Range`` of a 416 answer."""
    return f"bytes */{size}"
