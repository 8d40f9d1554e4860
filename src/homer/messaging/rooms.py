"""Rooms: create, join, leave, invite, kick, ban, list, members, topic, DMs.

Rules:

- ``public`` rooms: anyone may join and post (with ``room.post``);
- ``private`` rooms: join by invitation only; members may invite;
- ``announce`` rooms: anyone may join; posting also needs ``room.announce``;
- ``dm`` rooms: exactly two users, found or created with one call; nobody
  else can join, be invited or read them.

Kicking, banning and changing the topic need ``room.moderate`` or being the
room's owner. Membership changes are stored in the room's history (kinds
``join``, ``leave``, ``kick``, ``ban``, ``invite``, ``topic``), so a client
that resumes sees them in order like any message.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import msgspec

from homer.clock import Clock, system_clock
from homer.errors import Conflict, Forbidden, HomerError, InvalidInput, NotAuthorized, NotFound
from homer.identity.accounts import User
from homer.identity.permissions import Authorizer
from homer.messaging.events import Events
from homer.messaging.ids import message_id
from homer.messaging.names import Names
from homer.messaging.writer import MessageWriter
from homer.protocol.envelope import Envelope
from homer.store.ports import Store
from homer.store.records import Appended, MemberRecord, NewMessage, Page, RoomRecord

__all__ = [
    "MAX_ROOM_NAME",
    "MAX_TOPIC",
    "ROOM_ID",
    "ROOM_KINDS",
    "RoomService",
    "not_yours",
    "room_info",
]

ROOM_KINDS = ("public", "private", "announce")
#: What a room id may be: it appears in topics, routing keys and URLs.
#: Characters of a room's name and of its topic.
MAX_ROOM_NAME = 100
MAX_TOPIC = 500
ROOM_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
_MAX_META = 4096


def not_yours(room: RoomRecord, room_id: str) -> HomerError:
    """Why one who is not in ``room`` may not use it: ``forbidden`` for a room anyone
    may see, and for a private room or a DM exactly what a room that does not exist
    answers, so that its existence cannot be probed."""
    if room.kind in ("private", "dm"):
        return NotFound(f"no room {room_id!r}")
    return Forbidden(f"you are not a member of {room_id!r}")


def room_info(
    room: RoomRecord,
    member: MemberRecord | None = None,
    unread: int | None = None,
    mentions: int = 0,
) -> dict[str, Any]:
    """What clients see of a room (and of their membership in it)."""
    info: dict[str, Any] = {
        "id": room.id,
        "kind": room.kind,
        "name": room.name,
        "topic": room.topic,
        "meta": dict(room.meta),
        "epoch": room.epoch,
        "last_seq": room.last_seq,
    }
    if member is not None:
        info["role"] = member.role
        info["read"] = member.read_seq
    if unread is not None:
        info["unread"] = unread
        info["mentions"] = mentions
    return info


class RoomService:
    def __init__(
        self,
        store: Store,
        writer: MessageWriter,
        events: Events,
        authorizer: Authorizer,
        names: Names,
        *,
        max_rooms_per_user: int = 1000,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.writer = writer
        self.events = events
        self.authorizer = authorizer
        self.names = names
        self.max_rooms_per_user = max_rooms_per_user
        self.clock = clock
        #: Room kinds never change: cached for the send path's announce check.
        self.kinds: dict[str, str] = {}

    # -- reading ----------------------------------------------------------------

    async def get(self, room_id: str) -> RoomRecord:
        room = await self.store.room(room_id) if isinstance(room_id, str) else None
        if room is None:
            raise NotFound(f"no room {room_id!r}")
        self.kinds[room.id] = room.kind
        return room

    async def kind(self, room_id: str) -> str:
        found = self.kinds.get(room_id)
        return found if found is not None else (await self.get(room_id)).kind

    async def visible(self, user: User, room_id: str) -> tuple[RoomRecord, MemberRecord]:
        """The room and the user's membership; if they are not in it, ``forbidden``
        for a public or announce room, and for a private room or a DM the answer to
        no room at all (:func:`not_yours`)."""
        room = await self.get(room_id)
        member = await self.store.member(room_id, user.id)
        if member is None:
            raise not_yours(room, room_id)
        return room, member

    async def describe(self, user: User, room_id: str) -> dict[str, Any]:
        """A room as ``user`` may see it: with their membership and unread count when
        they are in it; a public or announce room to anyone; a private room or a DM
        to its members only (``forbidden``)."""
        room = await self.get(room_id)
        member = await self.store.member(room.id, user.id)
        if member is None:
            if room.kind not in ("public", "announce"):
                raise not_yours(room, room_id)
            return room_info(room)
        unread = await self.store.unread_counts(user.id, room_id=room.id)
        mentions = await self.store.mention_counts(user.id, room_id=room.id)
        return room_info(room, member, unread.get(room.id, 0), mentions.get(room.id, 0))

    async def mine(self, user: User) -> list[dict[str, Any]]:
        """Every room of the user, with read markers, unread and mention counts."""
        listed = await self.store.room_list(user.id)
        mentions = await self.store.mention_counts(user.id) if listed else {}
        for room, _, _ in listed:
            self.kinds[room.id] = room.kind
        return [
            room_info(room, member, unread, mentions.get(room.id, 0))
            for room, member, unread in listed
        ]

    async def directory(self, *, after: str | None, limit: int) -> Page[dict[str, Any]]:
        page = await self.store.list_rooms(
            kinds=("public", "announce"), after=after, limit=max(1, min(limit, 200))
        )
        return Page([room_info(r) for r in page.items], page.next_cursor)

    async def members(
        self, user: User, room_id: str, *, after: str | None, limit: int
    ) -> Page[dict[str, Any]]:
        await self.visible(user, room_id)
        page = await self.store.members(room_id, after=after, limit=max(1, min(limit, 500)))
        items = [
            {
                "uid": m.user_id,
                "name": await self.names.name(m.user_id),
                "role": m.role,
                "joined_at": m.joined_at,
            }
            for m in page.items
        ]
        return Page(items, page.next_cursor)

    # -- creating ---------------------------------------------------------------

    async def create(
        self,
        user: User,
        *,
        room_id: str | None,
        kind: str,
        name: str | None,
        topic: str,
        meta: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if not self.authorizer.can(user, "room.create"):
            raise NotAuthorized("room.create", user.name)
        if kind not in ROOM_KINDS:
            raise InvalidInput(f"room kind must be one of {', '.join(ROOM_KINDS)}")
        if room_id is None:
            room_id = f"r-{secrets.token_hex(6)}"
        elif not ROOM_ID.fullmatch(room_id):
            raise InvalidInput(
                "a room id is 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit"
            )
        _check_text("name", name or room_id, MAX_ROOM_NAME)
        _check_text("topic", topic, MAX_TOPIC)
        meta = _check_meta(meta)
        await self._room_budget(user)
        now = self.clock()
        room = RoomRecord(
            id=room_id,
            kind=kind,
            name=name or room_id,
            created_by=user.id,
            created_at=now,
            topic=topic,
            meta=meta,
        )
        owner = MemberRecord(room_id, user.id, "owner", now)
        await self.store.create_room(room, [owner])
        self.kinds[room.id] = kind
        await self._joined(user.id, room, owner)
        return room_info(room, owner, 0)

    async def direct(self, user: User, other_name: str) -> dict[str, Any]:
        """The DM room between ``user`` and ``other_name``, created on first use."""
        other = await self.store.user_by_name(other_name) if isinstance(other_name, str) else None
        if other is None:
            raise NotFound(f"no user named {other_name!r}")
        if other.id == user.id:
            raise InvalidInput("a direct message needs two different users")
        dm_key = " ".join(sorted((user.id, other.id)))
        room = await self.store.room_by_dm_key(dm_key)
        if room is None:
            if not self.authorizer.can(user, "room.post"):
                raise NotAuthorized("room.post", user.name)
            now = self.clock()
            members = [
                MemberRecord("", user.id, "member", now),
                MemberRecord("", other.id, "member", now),
            ]
            room = RoomRecord(
                id=f"dm-{uuid.uuid4().hex[:16]}",
                kind="dm",
                name=f"{user.name}, {other.name}",
                created_by=user.id,
                created_at=now,
                meta={"users": sorted((user.name, other.name))},
                dm_key=dm_key,
            )
            try:
                await self.store.create_room(
                    room, [MemberRecord(room.id, m.user_id, m.role, now) for m in members]
                )
            except Conflict:  # the other side created it at the same moment
                found = await self.store.room_by_dm_key(dm_key)
                if found is None:
                    raise
                room = found
            else:
                for member_id in (user.id, other.id):
                    await self._joined(
                        member_id, room, MemberRecord(room.id, member_id, "member", now)
                    )
        self.kinds[room.id] = "dm"
        member = await self.store.member(room.id, user.id)
        return room_info(room, member)

    # -- membership -------------------------------------------------------------

    async def join(self, user: User, room_id: str) -> dict[str, Any]:
        if not isinstance(room_id, str):
            raise NotFound(f"no room {room_id!r}")
        room, member, new = await self.store.join_room(
            room_id, user.id, joined_at=self.clock(), max_rooms=self.max_rooms_per_user
        )
        self.kinds[room.id] = room.kind
        if not new:
            return room_info(room, member)
        await self._joined(user.id, room, member)
        recorded = await self._record(user, room.id, "join", {})
        return room_info(replace(room, last_seq=recorded.message.seq), member)

    async def leave(self, user: User, room_id: str) -> None:
        room = await self.get(room_id)
        if room.kind == "dm":
            raise InvalidInput("one cannot leave a direct conversation")
        if await self.store.member(room.id, user.id) is None:
            raise NotFound(f"you are not in {room_id!r}")
        await self._record(user, room.id, "leave", {})
        await self.store.remove_member(room.id, user.id)
        await self._left(user.id, room.id, "leave")

    async def invite(self, user: User, room_id: str, invitee_name: str) -> None:
        room, _ = await self.visible(user, room_id)
        if room.kind == "dm":
            raise InvalidInput("nobody can be invited to a direct conversation")
        invitee = await self._user(invitee_name)
        if await self.store.is_banned(room.id, invitee.id):
            raise Conflict(f"{invitee.name} is banned from {room.id}")
        await self.store.set_invite(room.id, invitee.id, True)
        await self._record(user, room.id, "invite", {"user": invitee.name, "uid": invitee.id})
        await self.events.to_user(
            invitee.id,
            Envelope(
                op="invited", room=room.id, sender=user.name, uid=user.id, body=room_info(room)
            ),
        )

    async def kick(self, user: User, room_id: str, target_name: str, *, ban: bool) -> None:
        room, member = await self.visible(user, room_id)
        self._moderator(user, member)
        if room.kind == "dm":
            raise InvalidInput("nobody can be removed from a direct conversation")
        target = await self._user(target_name)
        if target.id == user.id:
            raise InvalidInput("use leave to leave a room")
        kind = "ban" if ban else "kick"
        if ban:
            await self.store.set_ban(room.id, target.id, True)
            await self.store.set_invite(room.id, target.id, False)
        in_room = await self.store.member(room.id, target.id) is not None
        if in_room or ban:
            await self._record(user, room.id, kind, {"user": target.name, "uid": target.id})
        if in_room:
            await self.store.remove_member(room.id, target.id)
            await self._left(target.id, room.id, kind)

    async def unban(self, user: User, room_id: str, target_name: str) -> None:
        _, member = await self.visible(user, room_id)
        self._moderator(user, member)
        target = await self._user(target_name)
        await self.store.set_ban(room_id, target.id, False)

    async def set_topic(
        self, user: User, room_id: str, *, topic: str | None, meta: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        room, member = await self.visible(user, room_id)
        self._moderator(user, member)
        if topic is not None:
            _check_text("topic", topic, MAX_TOPIC)
        checked = _check_meta(meta) if meta is not None else None
        updated = await self.store.update_room(room.id, topic=topic, meta=checked)
        await self._record(
            user, room.id, "topic", {"topic": updated.topic, "meta": dict(updated.meta)}
        )
        return room_info(updated, member)

    # -- helpers ----------------------------------------------------------------

    def _moderator(self, user: User, member: MemberRecord) -> None:
        if member.role != "owner" and not self.authorizer.can(user, "room.moderate"):
            raise NotAuthorized("room.moderate", user.name)

    async def _room_budget(self, user: User) -> None:
        if await self.store.count_rooms_of(user.id) >= self.max_rooms_per_user:
            raise Conflict(f"a user may be in at most {self.max_rooms_per_user} rooms")

    async def _user(self, name: str) -> Any:
        found = await self.store.user_by_name(name) if isinstance(name, str) else None
        if found is None:
            raise NotFound(f"no user named {name!r}")
        return found

    async def _joined(self, user_id: str, room: RoomRecord, member: MemberRecord) -> None:
        """Tell the user's sessions (on every node) to subscribe, before anything is said."""
        await self.events.to_user(
            user_id, Envelope(op="joined", room=room.id, body=room_info(room, member, 0))
        )

    async def _left(self, user_id: str, room_id: str, reason: str) -> None:
        await self.events.to_user(
            user_id, Envelope(op="left", room=room_id, body={"reason": reason})
        )

    async def _record(self, user: User, room_id: str, kind: str, body: dict[str, Any]) -> Appended:
        """Store a membership or room change in the room's history, in sequence."""
        return await self.writer.append(
            NewMessage(
                room_id=room_id,
                id=message_id(),
                sender_id=user.id,
                client_id=f"{kind}-{message_id()}",
                kind=kind,
                ts=self.clock(),
                body=body,
            )
        )


def _check_text(field: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"{field} must be text of at most {limit} characters")


def _check_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise InvalidInput("meta must be an object")
    if len(msgspec.json.encode(meta)) > _MAX_META:
        raise InvalidInput(f"meta must encode to at most {_MAX_META} bytes")
    return dict(meta)
