"""The resume cursor of Server-Sent Events and long-poll, as text. Sans-I/O, and
the same for the server that writes it and the clients that send it back.

A cursor is every room's ``(epoch, seq)``: ``room~epoch~seq`` joined by ``,``
(``lobby~1~42,plans~2~7``). Room ids hold neither separator (decision 0009).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "CURSOR_PATTERN",
    "MAX_CURSOR",
    "CursorError",
    "encode_cursor",
    "encode_position",
    "parse_cursor",
]

ROOMS_SEP = ","
FIELDS_SEP = "~"
#: The longest cursor a server reads, in characters.
MAX_CURSOR = 8192
_POSITION = re.compile(r"([^~,]{1,64})~([0-9]{1,18})~([0-9]{1,18})")
#: A whole cursor, as a regular expression (for the OpenAPI document).
CURSOR_PATTERN = rf"^(?:,*{_POSITION.pattern})*,*$"


class CursorError(ValueError):
    """The text is not a cursor."""


def encode_position(room: str, epoch: int, seq: int) -> str:
    """One room's part of a cursor."""
    return f"{room}{FIELDS_SEP}{epoch}{FIELDS_SEP}{seq}"


def encode_cursor(positions: Mapping[str, tuple[int, int]]) -> str:
    """The cursor of every room's ``(epoch, seq)``."""
    return ROOMS_SEP.join(encode_position(room, *at) for room, at in positions.items())


def parse_cursor(text: str) -> dict[str, tuple[int, int]]:
    """Room -> ``(epoch, seq)`` from a cursor, or :class:`CursorError`."""
    if len(text) > MAX_CURSOR:
        raise CursorError(f"the cursor is longer than {MAX_CURSOR} characters")
    positions: dict[str, tuple[int, int]] = {}
    for part in filter(None, text.split(ROOMS_SEP)):
        found = _POSITION.fullmatch(part)
        if found is None:
            raise CursorError(f"not a cursor of this server: {part[:80]!r}")
        room, epoch, seq = found.groups()
        positions[room] = (int(epoch), int(seq))
    return positions
