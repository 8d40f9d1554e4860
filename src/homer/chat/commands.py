"""What the user typed: a message to send, or a slash command.

Pure: :func:`parse` turns one input into a :data:`Input` value or raises
:class:`CommandError` with a message for the user. ``//text`` sends ``/text``
as a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

__all__ = [
    "HELP",
    "CommandError",
    "Create",
    "Dm",
    "Help",
    "History",
    "Input",
    "Invite",
    "Join",
    "Leave",
    "Me",
    "Quit",
    "Say",
    "Topic",
    "Who",
    "parse",
    "parse_time",
]


class CommandError(ValueError):
    """The input is an unknown command or a command with bad arguments; the
    message says what is wrong, for the user."""


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class Join:
    room: str


@dataclass(frozen=True, slots=True)
class Leave:
    pass


@dataclass(frozen=True, slots=True)
class Create:
    room: str
    kind: str = "public"


@dataclass(frozen=True, slots=True)
class Invite:
    user: str


@dataclass(frozen=True, slots=True)
class Dm:
    user: str


@dataclass(frozen=True, slots=True)
class Who:
    pass


@dataclass(frozen=True, slots=True)
class Me:
    action: str


@dataclass(frozen=True, slots=True)
class Topic:
    text: str


@dataclass(frozen=True, slots=True)
class History:
    """A time window: messages with ``since`` ≤ ts < ``until`` (``None``: up to now)."""

    since: float
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    pass


Input = Say | Join | Leave | Create | Invite | Dm | Who | Me | Topic | History | Quit | Help

#: Each command's usage and what it does, in the order ``/help`` lists them.
HELP: dict[str, tuple[str, str]] = {
    "join": ("/join ROOM", "join a room and switch to it"),
    "leave": ("/leave", "leave the room on screen"),
    "create": ("/create ROOM [private|announce]", "create a room (public unless told)"),
    "invite": ("/invite USER", "invite someone to the room on screen"),
    "dm": ("/dm USER", "open the direct messages with someone"),
    "who": ("/who", "list the room's members and their status"),
    "me": ("/me ACTION", "say what you are doing (shown as * name ACTION)"),
    "topic": ("/topic TEXT", "set the room's topic"),
    "history": (
        "/history SINCE [UNTIL]",
        "show the messages of a time window: 2h, 30m, 1d (ago) or ISO times",
    ),
    "quit": ("/quit", "leave homer chat"),
    "help": ("/help", "this list"),
}

KINDS = ("public", "private", "announce")
DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def usage(name: str) -> str:
    return f"usage: {HELP[name][0]}"


def parse(text: str, *, now: float, tz: tzinfo | None = None) -> Input:
    """What ``text`` asks for; ``now`` (seconds since the epoch) and ``tz`` (the
    zone of ISO times without one; UTC by default) resolve ``/history`` times."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return Say(text)
    if stripped.startswith("//"):
        return Say(stripped[1:])
    name, _, rest = stripped[1:].partition(" ")
    name = name.lower()
    rest = rest.strip()
    words = rest.split()
    if name not in HELP:
        raise CommandError(f"unknown command /{name}: /help lists them")
    if name in ("leave", "who", "quit", "help"):
        if words:
            raise CommandError(f"/{name} takes no arguments ({usage(name)})")
        plain: dict[str, Input] = {"leave": Leave(), "who": Who(), "quit": Quit(), "help": Help()}
        return plain[name]
    if name in ("join", "invite", "dm"):
        if len(words) != 1:
            raise CommandError(usage(name))
        word = words[0].removeprefix("#") if name == "join" else words[0].removeprefix("@")
        return Join(word) if name == "join" else Invite(word) if name == "invite" else Dm(word)
    if name == "create":
        if len(words) not in (1, 2):
            raise CommandError(usage(name))
        kind = words[1].lower() if len(words) == 2 else "public"
        if kind not in KINDS:
            raise CommandError(f"a room is public, private or announce, not {words[1]!r}")
        return Create(words[0].removeprefix("#"), kind)
    if name in ("me", "topic"):
        if not rest:
            raise CommandError(usage(name))
        return Me(rest) if name == "me" else Topic(rest)
    # history
    if len(words) not in (1, 2):
        raise CommandError(usage(name))
    since = parse_time(words[0], now=now, tz=tz)
    until = parse_time(words[1], now=now, tz=tz) if len(words) == 2 else None
    if until is not None and until <= since:
        raise CommandError("the window ends before it starts: give SINCE before UNTIL")
    return History(since, until)


def parse_time(word: str, *, now: float, tz: tzinfo | None = None) -> float:
    """A moment as seconds since the epoch: ``now``; a duration ago (``90s``,
    ``30m``, ``2h``, ``1d``, ``1w``, or several: ``1h30m``); or an ISO 8601 date or
    time (``2026-12-06``, ``2026-12-06T14:30``), in ``tz`` unless it names a zone."""
    lowered = word.lower()
    if lowered == "now":
        return now
    if DURATION.fullmatch(lowered) or re.fullmatch(rf"(?:{DURATION.pattern})+", lowered):
        seconds = sum(float(n) * UNITS[unit] for n, unit in DURATION.findall(lowered))
        return now - seconds
    try:
        moment = datetime.fromisoformat(word)
    except ValueError:
        raise CommandError(
            f"{word!r} is not a time: give a duration ago (2h, 30m, 1d) or an ISO time "
            "(2026-12-06T14:30)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz or UTC)
    return moment.timestamp()
