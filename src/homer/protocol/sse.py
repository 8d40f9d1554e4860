"""Server-Sent Events (``text/event-stream``), sans-I/O: bytes in, events out, and back.

:class:`EventStreamParser` reads a stream as a browser's ``EventSource`` does
(the WHATWG HTML standard, "Parsing an event stream" and "Interpreting an
event stream"): lines end with CRLF, LF or CR; one UTF-8 byte order mark may
open the stream; ``data:`` lines join with LF; ``event:`` names the event
(``message`` by default); ``id:`` sets the last event id, which holds until
the next one; ``retry:`` sets the reconnection time; a line starting with
``:`` is a comment; a blank line ends an event, and one without ``data:`` is
no event. Bytes that are not UTF-8 read as U+FFFD, as a browser reads them.

:func:`render_event` and :func:`render_comment` write what a server sends,
byte for byte as Homer's ``GET /api/events`` writes it: ``id:``, then
``event:``, then ``data:``, then a blank line. What they write, the parser
reads back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from homer.protocol.framing import FrameTooLarge

__all__ = [
    "EventStreamParser",
    "ServerSentEvent",
    "render_comment",
    "render_event",
    "render_id",
]

_BOM: Final = b"\xef\xbb\xbf"
_LINE_END: Final = re.compile(rb"\r\n|\r|\n")
#: ``retry:`` values with more digits than this are ignored (no one means 10^18 ms).
_RETRY_DIGITS: Final = 18


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSentEvent:
    """One event as ``EventSource`` dispatches it."""

    #: The ``data:`` lines, joined with LF.
    data: str
    #: The ``event:`` field, or ``message`` when it had none.
    event: str = "message"
    #: The last event id of the stream when the event ended (``""`` before any).
    id: str = ""
    #: The reconnection time in milliseconds the server last asked for (``None``: never).
    retry: int | None = None


class EventStreamParser:
    """Bytes in, :class:`ServerSentEvent` out, however the bytes are cut.

    ``limit`` bounds what it buffers: a line, or an event's data, longer than
    ``limit`` bytes raises :class:`~homer.protocol.framing.FrameTooLarge` (as soon
    as that many bytes of it arrived) and the stream is not to be read further.
    At the stream's end an event without its blank line is dropped, as the
    standard says: there is nothing to call.
    """

    __slots__ = (
        "_after_cr",
        "_data",
        "_event",
        "_head",
        "_id",
        "_line",
        "_size",
        "last_event_id",
        "limit",
        "retry",
    )

    def __init__(self, *, limit: int = 1 << 20) -> None:
        self.limit = limit
        #: The id of the last event (or blank line) received: what ``Last-Event-ID``
        #: sends on a reconnection. An ``id:`` of an event cut short does not count.
        self.last_event_id = ""
        #: The reconnection time in milliseconds the server asked for, if it did.
        self.retry: int | None = None
        #: The stream's first bytes while they may still be a byte order mark.
        self._head: bytes | None = b""
        #: Whether the last byte was a CR, so that an LF first in the next piece
        #: ends no second line.
        self._after_cr = False
        #: The line in progress (each byte is copied once, however the line is cut).
        self._line = bytearray()
        self._data: list[str] = []
        self._size = 0
        self._event = ""
        self._id = ""

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """The events ``data`` completes; raises ``FrameTooLarge`` past the limit."""
        if self._head is not None:
            head = self._head + data
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._head = head
                return []
            self._head = None
            data = head.removeprefix(_BOM)
        if self._after_cr and data:
            self._after_cr = False
            if data[0] == 0x0A:
                data = data[1:]
        if b"\r" in data:
            lines = _LINE_END.split(data)
            self._after_cr = data.endswith(b"\r")
        else:
            lines = data.split(b"\n")
        line = self._line
        tail = lines.pop()
        if lines and line:
            line += lines[0]
            lines[0] = bytes(line)
            del line[:]
        line += tail
        if len(line) > self.limit:
            del line[:]
            raise FrameTooLarge(f"an event stream line is longer than {self.limit} bytes")
        events: list[ServerSentEvent] = []
        for complete in lines:
            if len(complete) > self.limit:
                raise FrameTooLarge(f"an event stream line is longer than {self.limit} bytes")
            self._take(complete, events)
        return events

    def _take(self, line: bytes, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == 0x3A:  # ":" a comment
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            size = self._size + len(value) + 1
            if size > self.limit + 1:  # the last line's LF is not kept
                raise FrameTooLarge(f"an event's data is longer than {self.limit} bytes")
            self._size = size
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry":
            digits = value.lstrip(b"0")
            if value.isdigit() and len(digits) <= _RETRY_DIGITS:
                self.retry = int(digits or b"0")

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        self.last_event_id = self._id
        if self._data:
            events.append(
                ServerSentEvent(
                    data="\n".join(self._data),
                    event=self._event or "message",
                    id=self._id,
                    retry=self.retry,
                )
            )
            self._data = []
            self._size = 0
        self._event = ""


def _line_value(name: str, value: str) -> bytes:
    if "\n" in value or "\r" in value:
        raise ValueError(f"an SSE {name} holds no line break: {value[:80]!r}")
    return value.encode()


def render_id(id: str) -> bytes:
    """The ``id:`` line alone: for a stream that puts its own id before an event
    rendered once for many streams, ``render_id(i) + render_event(d, event=e)``
    being ``render_event(d, event=e, id=i)``. ``ValueError`` for a line break or
    NUL in ``id`` (a reader would not keep it)."""
    if "\0" in id:
        raise ValueError(f"an SSE id holds no NUL: {id[:80]!r}")
    return b"id: %s\n" % _line_value("id", id)


def render_event(
    data: bytes,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """One event as the server writes it: ``id:``, ``retry:``, ``event:``, ``data:``
    and a blank line, each field only when given.

    ``data`` with line breaks (CRLF, LF or CR) goes as one ``data:`` line per line,
    and reads back with LF between them. ``ValueError`` for a line break in
    ``event`` or ``id``, a NUL in ``id``, or a negative ``retry``.
    """
    head = b"" if id is None else render_id(id)
    if retry is not None:
        if retry < 0:
            raise ValueError(f"an SSE retry is a number of milliseconds, not {retry}")
        head += b"retry: %d\n" % retry
    if event is not None:
        head += b"event: %s\n" % _line_value("event", event)
    if b"\n" in data or b"\r" in data:
        return head + b"".join(b"data: %s\n" % line for line in _LINE_END.split(data)) + b"\n"
    return head + b"data: %s\n\n" % data


def render_comment(text: str = "") -> bytes:
    """A comment and a blank line: a keep-alive that dispatches nothing
    (``render_comment("ping")`` is the server's ``: ping``). ``ValueError`` for a
    line break in ``text``."""
    return b": %s\n\n" % _line_value("comment", text) if text else b":\n\n"
