"""Mentions: ``@name``, ``@room`` and ``@all`` in a message's text, resolved on send.

A mention names a member of the room by their account name (case-insensitively);
a name that is not a member's, or is the sender's own, mentions nobody (text is
text). ``@room`` and ``@all`` mention every member and need the room's ownership
or the ``room.mention_all`` permission: without either the message is refused
rather than sent without the mention its writer meant. A message resolves at
most :data:`MAX_MENTIONS` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from homer.errors import NotAuthorized
from homer.identity.accounts import User
from homer.identity.permissions import Authorizer
from homer.store.ports import Store
from homer.store.records import MemberRecord

__all__ = ["EVERYONE", "MAX_MENTIONS", "Mentions", "Resolved", "mentioned_names"]

#: The words that mention the whole room.
EVERYONE = frozenset({"room", "all"})
MAX_MENTIONS = 20

# An @ that starts a word (not inside an address like ann@example.com), then a name.
_MENTION = re.compile(r"(?<![\w@.])@(\w[\w.-]*)")


def mentioned_names(text: str) -> list[str]:
    """The names ``text`` mentions, each once, in order (trailing dots and dashes
    belong to the sentence, not the name)."""
    if "@" not in text:
        return []
    names = (match.rstrip(".-") for match in _MENTION.findall(text))
    return list(dict.fromkeys(name for name in names if name))


@dataclass(frozen=True, slots=True)
class Resolved:
    """Who a text mentions: user ids, and whether it is everyone in the room."""

    users: list[str]
    everyone: bool = False

    def into(self, body: dict[str, object]) -> None:
        """Put the mentions in a message or edit body (nothing when there are none)."""
        if self.users:
            body["mentions"] = self.users
        if self.everyone:
            body["mention_all"] = True


class Mentions:
    __slots__ = ("authorizer", "store")

    def __init__(self, store: Store, authorizer: Authorizer) -> None:
        self.store = store
        self.authorizer = authorizer

    async def resolve(
        self, user: User, room_id: str, text: str, member: MemberRecord | None = None
    ) -> Resolved:
        names = mentioned_names(text)
        if not names:
            return Resolved([])
        everyone = any(name.lower() in EVERYONE for name in names)
        if everyone:
            role = member.role if member is not None else None
            if role is None:
                found = await self.store.member(room_id, user.id)
                role = found.role if found is not None else None
            if role != "owner" and not self.authorizer.can(user, "room.mention_all"):
                raise NotAuthorized("room.mention_all", user.name)
        users: list[str] = []
        for name in names[:MAX_MENTIONS]:
            if name.lower() in EVERYONE:
                continue
            record = await self.store.user_by_name(name)
            if record is None or record.id == user.id or record.id in users:
                continue
            if await self.store.member(room_id, record.id) is not None:
                users.append(record.id)
        return Resolved(users, everyone)
