"""IRC lines: bytes in, messages out, and back. Sans-I/O.

A line is ``[@tags] [:source] COMMAND [params...] [:trailing]`` ending in
``\\r\\n`` (a bare ``\\n`` is taken too), as RFC 1459 and the modern IRC client
protocol document it, with IRCv3 message tags (``key=value;key2``, values
escaped). :class:`LineReader` cuts a byte stream into lines and refuses one
that is too long without holding it: the message part may be at most
:data:`MAX_MESSAGE` bytes and the tags at most :data:`MAX_TAGS`, the limits
IRCv3 sets. :func:`parse` turns a line into an :class:`IrcMessage`;
:func:`render` does the reverse, so a line fanned out to a room is rendered
once.

Errors (all :class:`IrcError`):

- :class:`LineTooLong`: past the limits; the reader skips to the next line.
- :class:`NotUtf8`: Homer speaks UTF-8 only (``UTF8ONLY``).
- :class:`IrcSyntaxError`: no command, a malformed tag or source, or a NUL or
  carriage return inside the line (the grammar allows neither anywhere).

Parameters are separated by spaces only: a tab or any other whitespace is part
of the parameter it is in.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

__all__ = [
    "MAX_MESSAGE",
    "MAX_TAGS",
    "IrcError",
    "IrcMessage",
    "IrcSyntaxError",
    "LineReader",
    "LineTooLong",
    "NotUtf8",
    "escape_tag",
    "parse",
    "render",
    "unescape_tag",
]

#: The longest message part of a line, ``\\r\\n`` included (RFC 1459).
MAX_MESSAGE: Final = 512
#: The longest tags part a client may send, ``@`` and the space after it included:
#: IRCv3 gives client tag data 4094 bytes, to which the ``@`` and the space add two.
MAX_TAGS: Final = 4096
#: The longest tags part a server may send (IRCv3).
MAX_SERVER_TAGS: Final = 8191
#: The longest message part without its line ending.
_MAX_CONTENT: Final = MAX_MESSAGE - 2


class IrcError(Exception):
    """A line that cannot be taken; the connection goes on with the next one."""


class LineTooLong(IrcError):
    """The line is longer than the limits (``417 ERR_INPUTTOOLONG``)."""


class NotUtf8(IrcError):
    """The line is not UTF-8 (``FAIL * INVALID_UTF8``)."""


class IrcSyntaxError(IrcError):
    """The line has no command, a malformed tag or source, or a NUL or CR in it."""


class IrcMessage(msgspec.Struct, frozen=True):
    """One IRC line: its command (upper case), its parameters (the trailing one
    last, unmarked), its tags and its source when it had them."""

    command: str
    params: tuple[str, ...] = ()
    tags: dict[str, str] | None = None
    source: str | None = None

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if index < len(self.params) else default


_COMMAND = re.compile(r"[A-Za-z]+|[0-9]{3}")
_TAG_KEY = re.compile(r"\+?(?:[A-Za-z0-9.-]+/)?[A-Za-z0-9-]+")
_UNESCAPES: Final = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_NEEDS_ESCAPE: Final = re.compile(r"[; \\\r\n\0]")
_ESCAPES: Final = str.maketrans(
    {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n", "\0": None}
)
_UNESCAPE = re.compile(r"\\(.?)", re.DOTALL)


def unescape_tag(value: str) -> str:
    """A tag value as sent, unescaped (an unknown escape is the character itself,
    a lone trailing backslash is dropped)."""
    if "\\" not in value:
        return value
    return _UNESCAPE.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(1)), value)


def escape_tag(value: str) -> str:
    """A tag value as it goes on the wire. A NUL, which no escape can carry and
    which ends a C client's string, is dropped."""
    return value.translate(_ESCAPES)


def parse(line: str) -> IrcMessage:
    """One line (without its line ending) as a message, or :class:`IrcSyntaxError`."""
    if "\0" in line or "\r" in line:
        raise IrcSyntaxError("a NUL or CR inside the line")
    tags: dict[str, str] | None = None
    source: str | None = None
    rest = line.lstrip(" ")
    if rest.startswith("@"):
        raw, _, rest = rest[1:].partition(" ")
        tags = {}
        for item in raw.split(";"):
            if not item:
                continue
            key, _, value = item.partition("=")
            if not _TAG_KEY.fullmatch(key):
                raise IrcSyntaxError(f"malformed tag name {key[:32]!r}")
            tags[key] = unescape_tag(value)
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        if not source:
            raise IrcSyntaxError("an empty source")
        rest = rest.lstrip(" ")
    trailing: str | None = None
    head, marker, tail = rest.partition(" :")
    if marker:
        trailing = tail
    elif rest.startswith(":"):  # nothing but a trailing parameter: no command
        head = ""
    # Spaces only: str.split() would also cut at tabs and Unicode spaces.
    words = [word for word in head.split(" ") if word]
    if not words:
        raise IrcSyntaxError("a line needs a command")
    command = words[0]
    if not _COMMAND.fullmatch(command):
        raise IrcSyntaxError(f"malformed command {command[:32]!r}")
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    return IrcMessage(command.upper(), tuple(params), tags, source)


def render(
    command: str,
    *params: str,
    source: str | None = None,
    tags: dict[str, str] | None = None,
) -> bytes:
    """A line as it goes on the wire, ``\\r\\n`` included. The last parameter is sent
    as a trailing one when it needs to be (empty, a space, a leading ``:``);
    a line ending or NUL anywhere in the line (a parameter, the source, a tag
    name) is replaced by a space, so that nothing can ever start a line of its own
    (tag values are escaped instead, see :func:`escape_tag`). The other parameters
    are the caller's to keep valid (not empty, no space, no leading ``:``): one
    that is not changes how the line splits, and no replacement would be right."""
    head = ""
    if tags:
        head = "@" + ";".join([_tag(key, value) for key, value in tags.items()]) + " "
    if source:
        head += ":" + source + " "
    if not params:
        line = head + command
    else:
        last = params[-1]
        if not last or " " in last or last[0] == ":":
            last = ":" + last
        line = " ".join((head + command, *params[:-1], last))
    if "\r" in line or "\n" in line or "\0" in line:
        return _render_unsafe(command, params, head)
    return (line + "\r\n").encode()


def _tag(key: str, value: str) -> str:
    if not value:
        return key
    if _NEEDS_ESCAPE.search(value) is None:
        return f"{key}={value}"
    return f"{key}={escape_tag(value)}"


def _render_unsafe(command: str, params: tuple[str, ...], head: str) -> bytes:
    """:func:`render` of a line with a line ending or NUL somewhere: each becomes a
    space, the last parameter cleaned before it is tested for its ``:``."""
    parts = [_clean(head + command), *map(_clean, params[:-1])]
    if params:
        last = _clean(params[-1])
        if not last or " " in last or last[0] == ":":
            last = ":" + last
        parts.append(last)
    return (" ".join(parts) + "\r\n").encode()


_UNSAFE = re.compile(r"[\r\n\0]")


def _clean(param: str) -> str:
    return _UNSAFE.sub(" ", param) if ("\r" in param or "\n" in param or "\0" in param) else param


class LineReader:
    """Cuts a byte stream into IRC lines (sans-I/O: feed bytes, get lines).

    :meth:`feed` returns each completed line, decoded, or the :class:`IrcError`
    it raises, in order: a bad line costs only itself. A line longer than the
    limits is refused as soon as that is certain and the rest of it skipped,
    so the reader never holds more than :data:`MAX_TAGS` + :data:`MAX_MESSAGE`
    bytes.
    """

    __slots__ = ("_pending", "_skipping")

    #: The most a line may hold before its end arrives.
    limit: Final = MAX_TAGS + MAX_MESSAGE

    def __init__(self) -> None:
        self._pending = bytearray()
        #: Inside a line already refused as too long: drop bytes until its end.
        self._skipping = False

    def feed(self, data: bytes) -> list[str | IrcError]:
        out: list[str | IrcError] = []
        pending = self._pending
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            piece = data[start:end]
            start = end + 1
            if self._skipping:
                self._skipping = False
                pending.clear()
                continue
            if pending:
                pending += piece
                line = bytes(pending)
                pending.clear()
            else:
                line = piece
            taken = _take(line)
            if taken is not None:
                out.append(taken)
        if start < len(data) and not self._skipping:
            pending += data[start:]
            # Every refusal needs more than this: most partial lines skip the call.
            if len(pending) > _MAX_CONTENT + 1 and _too_long_already(pending):
                pending.clear()
                self._skipping = True
                out.append(LineTooLong("input line too long"))
        return out


def _too_long_already(pending: bytearray) -> bool:
    """Whether the start of a line is too long however it ends, by the rules of
    :func:`_take` (whose ``\\r`` may still be the last byte here)."""
    if pending[0] != 0x40:  # "@"
        return len(pending) - 1 > _MAX_CONTENT
    space = pending.find(b" ")
    if space < 0:
        return len(pending) - 1 > MAX_TAGS
    return space + 1 > MAX_TAGS or len(pending) - space - 2 > _MAX_CONTENT


def _take(line: bytes) -> str | IrcError | None:
    """A line without its ``\\n``: its text, its error, or ``None`` when blank.
    The limits come first, so that a long blank line is refused whether it arrives
    at once or in pieces (when :meth:`LineReader.feed` refuses it before its end)."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if line.startswith(b"@"):
        space = line.find(b" ")
        tags_size = space + 1 if space >= 0 else len(line)
        if tags_size > MAX_TAGS:
            return LineTooLong("tags too long")
        if len(line) - tags_size > _MAX_CONTENT:
            return LineTooLong("input line too long")
    elif len(line) > _MAX_CONTENT:
        return LineTooLong("input line too long")
    if not line.strip(b" "):
        return None
    try:
        return line.decode()
    except UnicodeDecodeError:
        return NotUtf8("lines must be UTF-8")
