"""What the client knows of the user's rooms: their order, unread counts, the
messages loaded so far, who is there and who is typing. Pure: the app feeds it
the server's answers and events and shows what it holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from homer.protocol.envelope import Envelope

__all__ = ["Room", "Rooms", "fuzzy_filter", "fuzzy_score"]


@dataclass
class Room:
    id: str
    kind: str = "public"
    name: str = ""
    topic: str = ""
    #: Messages from others after the server's read marker.
    unread: int = 0
    #: The server's read marker.
    read: int = 0
    last_seq: int = 0
    users: tuple[str, ...] = ()
    #: Loaded messages, ascending by ``seq``.
    messages: list[Envelope] = field(default_factory=list)
    loaded: bool = False
    #: Whether history holds older messages than the first loaded.
    more_before: bool = False
    #: The read marker when the room was last opened: the "new messages" line
    #: goes after it.
    marker: int | None = None
    #: User name → until when (server time) they are typing.
    typing: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> Room:
        meta = info.get("meta") or {}
        users = meta.get("users", ()) if isinstance(meta, dict) else ()
        return cls(
            id=str(info["id"]),
            kind=str(info.get("kind", "public")),
            name=str(info.get("name") or info["id"]),
            topic=str(info.get("topic") or ""),
            unread=int(info.get("unread") or 0),
            read=int(info.get("read") or 0),
            last_seq=int(info.get("last_seq") or 0),
            users=tuple(str(u) for u in users),
        )

    def update(self, info: Mapping[str, Any]) -> None:
        fresh = Room.from_info(info)
        self.kind, self.name, self.topic, self.users = (
            fresh.kind,
            fresh.name,
            fresh.topic,
            fresh.users,
        )
        self.last_seq = max(self.last_seq, fresh.last_seq)
        if "read" in info:
            self.read = max(self.read, fresh.read)
        if "unread" in info:
            self.unread = fresh.unread

    @property
    def is_dm(self) -> bool:
        return self.kind == "dm"

    def label(self, me: str) -> str:
        """``#lobby`` for a room, ``@bob`` for the DM with bob."""
        if self.is_dm:
            others = [u for u in self.users if u.lower() != me.lower()]
            return "@" + (others[0] if others else self.name)
        return "#" + self.id

    def other_user(self, me: str) -> str | None:
        others = [u for u in self.users if u.lower() != me.lower()]
        return others[0] if self.is_dm and others else None

    def add_live(self, message: Envelope) -> bool:
        """Record a live message; ``False`` when it was already there."""
        seq = message.seq or 0
        self.last_seq = max(self.last_seq, seq)
        if not self.loaded:
            return True
        if self.messages and seq <= (self.messages[-1].seq or 0):
            if any(m.seq == seq for m in self.messages):
                return False
            self.messages.append(message)
            self.messages.sort(key=lambda m: m.seq or 0)
            return True
        self.messages.append(message)
        return True

    def add_older(self, messages: Iterable[Envelope], *, more: bool) -> int:
        """Put older messages (from history) before the loaded ones; how many were new."""
        known = {m.seq for m in self.messages}
        older = [m for m in messages if m.seq not in known]
        self.messages = sorted([*older, *self.messages], key=lambda m: m.seq or 0)
        self.more_before = more
        return len(older)

    def typists(self, now: float, me: str) -> list[str]:
        """Who is typing at server time ``now`` (not ``me``), in name order."""
        for name in [n for n, until in self.typing.items() if until <= now]:
            del self.typing[name]
        return sorted(n for n in self.typing if n.lower() != me.lower())


class Rooms:
    """The user's rooms: the public, private and announce ones by id, then the DMs."""

    def __init__(self) -> None:
        self.by_id: dict[str, Room] = {}

    def __contains__(self, room: object) -> bool:
        return room in self.by_id

    def __getitem__(self, room: str) -> Room:
        return self.by_id[room]

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, room: str) -> Room | None:
        return self.by_id.get(room)

    def add(self, info: Mapping[str, Any]) -> Room:
        room = self.by_id.get(str(info["id"]))
        if room is None:
            room = self.by_id[str(info["id"])] = Room.from_info(info)
        else:
            room.update(info)
        return room

    def remove(self, room: str) -> None:
        self.by_id.pop(room, None)

    def ordered(self, me: str) -> list[Room]:
        return sorted(self.by_id.values(), key=lambda r: (r.is_dm, r.label(me).lower()))

    def neighbour(self, room: str | None, step: int, me: str) -> Room | None:
        """The room ``step`` places after ``room`` in the list, wrapping around."""
        ordered = self.ordered(me)
        if not ordered:
            return None
        ids = [r.id for r in ordered]
        index = ids.index(room) if room in ids else -step if step > 0 else 0
        return ordered[(index + step) % len(ordered)]


def fuzzy_score(query: str, text: str) -> int | None:
    """How well ``query``'s letters appear in order in ``text`` (lower is better),
    or ``None`` when they do not: a prefix beats a run of letters, which beats
    letters spread apart."""
    query, text = query.lower(), text.lower()
    if not query:
        return 0
    if text.startswith(query):
        return 0
    found = text.find(query)
    if found >= 0:
        return 1 + found
    position, gaps, last = 0, 0, -1
    for letter in query:
        position = text.find(letter, position)
        if position < 0:
            return None
        if last >= 0:
            gaps += position - last - 1
        last = position
        position += 1
    return 100 + gaps


def fuzzy_filter(query: str, labels: Iterable[str]) -> list[str]:
    """The labels ``query`` matches, best first (ties keep their order)."""
    matched: list[tuple[int, int, str]] = []
    for index, label in enumerate(labels):
        score = fuzzy_score(query, label)
        if score is not None:
            matched.append((score, index, label))
    return [label for _, _, label in sorted(matched)]
