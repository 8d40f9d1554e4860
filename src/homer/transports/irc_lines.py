"""Homer's events as IRC lines: what an IRC client sees of a room.

A room's event is rendered once per set of capabilities that change its
lines (:class:`IrcFormat`, shared by every connection that negotiated the
same ones), so a message fanned out to a thousand IRC clients costs a
handful of renders, not a thousand. docs/topics/irc.md is the specification
of the mapping; this module and it are kept in step.

- ``msg``: ``PRIVMSG``, one line per line of text, long lines cut under the
  512-byte limit (at a space where there is one); with ``draft/multiline``
  one batch. Files follow as ``[file: name]`` lines.
- ``join``, ``leave``, ``kick``, ``ban``, ``topic``, ``invite``: ``JOIN``,
  ``PART``, ``KICK``, ``MODE +b`` then ``KICK``, ``TOPIC``, ``INVITE``
  (``invite-notify``) or a ``NOTICE``.
- ``edit``, ``redact``, ``react``, ``unreact``: a ``NOTICE`` from the person
  who made the change (``REDACT`` with ``draft/message-redaction``; reactions
  as ``TAGMSG`` with ``+draft/react`` where message tags are on).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Final

from homer.protocol.envelope import Envelope
from homer.protocol.irc import MAX_MESSAGE, render

__all__ = [
    "ACTION_PREFIX",
    "IRC_CODEC",
    "RENDER_CAPS",
    "IrcFormat",
    "hostmask",
    "irc_time",
    "message_lines",
    "msgid",
    "parse_msgid",
    "split_text",
]

#: The capabilities that change how a room's events look.
RENDER_CAPS: Final = frozenset(
    {
        "server-time",
        "message-tags",
        "account-tag",
        "extended-join",
        "batch",
        "draft/multiline",
        "draft/message-redaction",
        "invite-notify",
    }
)


#: How a CTCP ACTION (``/me waves``) is stored: as the text a person would type.
ACTION_PREFIX: Final = "/me "


def irc_time(ts: float) -> str:
    """``server-time``'s format: UTC, milliseconds, ``Z``."""
    whole = int(ts)
    millis = int((ts - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def msgid(room: str, seq: int) -> str:
    """A message's IRC id: its room and seq, unique on the server for good."""
    return f"{room}:{seq}"


def parse_msgid(value: str) -> tuple[str, int] | None:
    room, _, seq = value.rpartition(":")
    return (room, int(seq)) if room and seq.isdigit() and len(seq) < 19 else None


def hostmask(nick: str, server: str) -> str:
    return f"{nick}!{nick}@{server}"


def split_text(text: str, budget: int) -> list[str]:
    """``text`` as IRC lines of at most ``budget`` bytes each: one per line of
    text (blank ones dropped), long ones cut at the last space that fits, or
    between two characters when none does."""
    out: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        while len(line.encode()) > budget:
            cut = _fit(line, budget)
            space = line.rfind(" ", 0, cut)
            head = line[: space if space > 0 else cut]
            out.append(head)
            line = line[len(head) :].lstrip(" ") if space > 0 else line[cut:]
        if line.strip():
            out.append(line)
    return out


def _fit(line: str, budget: int) -> int:
    """How many characters of ``line`` fit in ``budget`` bytes (at least one)."""
    used = 0
    for index, char in enumerate(line):
        used += len(char.encode())
        if used > budget:
            return max(index, 1)
    return len(line)


def _tags(env: Envelope, caps: frozenset[str], batch: str | None) -> dict[str, str] | None:
    tags: dict[str, str] = {}
    if batch is not None:
        tags["batch"] = batch
    if "server-time" in caps and env.ts is not None:
        tags["time"] = irc_time(env.ts)
    if "message-tags" in caps and env.room is not None and env.seq is not None:
        tags["msgid"] = msgid(env.room, env.seq)
    if "account-tag" in caps and env.sender:
        tags["account"] = env.sender
    return tags or None


def message_lines(
    env: Envelope,
    caps: frozenset[str],
    target: str,
    server: str,
    *,
    batch: str | None = None,
    command: str = "PRIVMSG",
) -> list[bytes]:
    """The lines of one stored event (a ``msg`` of any kind) for a channel or a nick
    ``target``. ``batch`` puts them in a batch (chathistory)."""
    sender = env.sender or "*deleted*"
    source = hostmask(sender, server)
    kind = env.kind or "msg"
    body: dict[str, Any] = env.body if isinstance(env.body, dict) else {}
    tags = _tags(env, caps, batch)
    if kind == "msg":
        return _chat_lines(env, body, caps, source, target, command, tags, batch)
    if kind == "join":
        if "extended-join" in caps:
            return [render("JOIN", target, sender, sender, source=source, tags=tags)]
        return [render("JOIN", target, source=source, tags=tags)]
    if kind == "leave":
        return [render("PART", target, source=source, tags=tags)]
    if kind in ("kick", "ban"):
        who = str(body.get("user", "?"))
        lines = []
        if kind == "ban":
            lines.append(render("MODE", target, "+b", f"{who}!*@*", source=source, tags=tags))
        reason = "banned" if kind == "ban" else "kicked"
        lines.append(render("KICK", target, who, f"{reason} by {sender}", source=source, tags=tags))
        return lines
    if kind == "topic":
        return [render("TOPIC", target, str(body.get("topic", "")), source=source, tags=tags)]
    if kind == "invite":
        who = str(body.get("user", "?"))
        if "invite-notify" in caps:
            return [render("INVITE", who, target, source=source, tags=tags)]
        return _notice(source, target, f"invited {who}", tags)
    return _change_lines(env, kind, body, caps, source, target, tags)


def _chat_lines(
    env: Envelope,
    body: dict[str, Any],
    caps: frozenset[str],
    source: str,
    target: str,
    command: str,
    tags: dict[str, str] | None,
    batch: str | None,
) -> list[bytes]:
    text = str(body.get("text") or "")
    if body.get("redacted"):
        text = "(deleted)"
    parent = body.get("reply_to") or body.get("thread")
    if "message-tags" in caps and isinstance(parent, int) and env.room is not None:
        tags = {**(tags or {}), "+draft/reply": msgid(env.room, parent)}
    data = body.get("data")
    if isinstance(data, dict) and data.get("irc") == "notice":
        command = "NOTICE"
    action = text.startswith(ACTION_PREFIX)
    extra = [
        f"[file: {f.get('name', '?')}]" for f in body.get("files") or () if isinstance(f, dict)
    ]
    budget = MAX_MESSAGE - len(f":{source} {command} {target} :\r\n".encode())
    if action:
        text = text[len(ACTION_PREFIX) :]
        budget -= len("\x01ACTION \x01")
    pieces = split_text(text, budget)
    if action:
        pieces = [f"\x01ACTION {piece}\x01" for piece in pieces]
    pieces += extra
    if not pieces:
        pieces = ["(no text)"]
    if len(pieces) > 1 and batch is None and {"batch", "draft/multiline"} <= caps:
        return _multiline(env, pieces, source, target, command, tags)
    lines = [render(command, target, pieces[0], source=source, tags=tags)]
    if len(pieces) > 1:
        # The id and time go with the first line only: one message, one id.
        rest = {"batch": batch} if batch is not None else None
        lines += [render(command, target, piece, source=source, tags=rest) for piece in pieces[1:]]
    return lines


def _multiline(
    env: Envelope,
    pieces: list[str],
    source: str,
    target: str,
    command: str,
    tags: dict[str, str] | None,
) -> list[bytes]:
    ref = f"m{env.seq or 0}"
    lines = [render("BATCH", f"+{ref}", "draft/multiline", target, source=source, tags=tags)]
    lines += [
        render(command, target, piece, source=source, tags={"batch": ref}) for piece in pieces
    ]
    lines.append(render("BATCH", f"-{ref}"))
    return lines


def _notice(source: str, target: str, text: str, tags: dict[str, str] | None) -> list[bytes]:
    return [render("NOTICE", target, text, source=source, tags=tags)]


def _change_lines(
    env: Envelope,
    kind: str,
    body: dict[str, Any],
    caps: frozenset[str],
    source: str,
    target: str,
    tags: dict[str, str] | None,
) -> list[bytes]:
    room, seq = env.room or "", body.get("target")
    ref = msgid(room, seq) if isinstance(seq, int) else "?"
    if kind == "edit":
        if body.get("redacted"):
            return []
        text = " ".join(split_text(str(body.get("text") or ""), 10_000))
        budget = MAX_MESSAGE - len(f":{source} NOTICE {target} :(edited {ref}) \r\n".encode())
        return _notice(source, target, f"(edited {ref}) {_clip(text, budget)}", tags)
    if kind == "redact":
        reason = str(body.get("reason") or "")
        if "draft/message-redaction" in caps:
            params = (target, ref, reason) if reason else (target, ref)
            return [render("REDACT", *params, source=source, tags=tags)]
        return _notice(source, target, f"(deleted {ref}{': ' + reason if reason else ''})", tags)
    if kind in ("react", "unreact"):
        key = str(body.get("key", "?"))
        if "message-tags" in caps:
            react = {
                "+draft/react" if kind == "react" else "+draft/unreact": key,
                "+draft/reply": ref,
            }
            return [render("TAGMSG", target, source=source, tags={**(tags or {}), **react})]
        verb = "reacted" if kind == "react" else "took back"
        return _notice(source, target, f"({verb} {key} to {ref})", tags)
    return _notice(source, target, f"({kind})", tags)


def _clip(text: str, budget: int) -> str:
    return text if len(text.encode()) <= budget else text[: _fit(text, budget - 3)] + "..."


class IrcFormat:
    """How a room's events look to IRC connections with the same ``caps``: one
    per node and set, so :class:`~homer.messaging.hub.Outgoing` renders each event
    once per set (the channel is the room's, the same for every member)."""

    __slots__ = ("caps", "codec", "server")

    def __init__(self, caps: frozenset[str], server: str) -> None:
        self.caps = caps
        self.server = server
        #: What logs name this format by (a stream format's codec).
        self.codec = IRC_CODEC

    def render(self, envelope: Envelope) -> bytes:
        room = envelope.room or ""
        return b"".join(message_lines(envelope, self.caps, "#" + room, self.server))


class IrcCodec:
    """IRC's lines as the stream peers' codec: only its name is used (in logs); IRC
    is read and written by :mod:`homer.protocol.irc`, not decoded as documents."""

    name: ClassVar[str] = "irc"
    text: ClassVar[bool] = True

    def encode(self, envelope: Envelope) -> bytes:
        raise NotImplementedError("IRC lines are rendered by IrcFormat")

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError("IRC lines are parsed by homer.protocol.irc")


IRC_CODEC: Final = IrcCodec()
