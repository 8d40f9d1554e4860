"""Table columns and row <-> record conversions, shared by the SQL adapters.

The schema is the same on every adapter (the migrations carry the same
numbers); what differs is how a column holds a JSON value or a set of names:
SQLite keeps JSON text, PostgreSQL hands over Python values through asyncpg's
codecs. :class:`Rows` takes those two conversions and does the rest once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from homer.store.records import (
    AuditEntry,
    AuditEvent,
    GroupRecord,
    MemberRecord,
    MessageRecord,
    Revocations,
    RoomRecord,
    UserRecord,
)
from homer.store.rules import ReadMarker, unread

__all__ = [
    "AUDIT_COLUMNS",
    "GROUP_COLUMNS",
    "MEMBER_COLUMNS",
    "MEMBER_WIDTH",
    "MESSAGE_COLUMNS",
    "NEW_MEMBER_COLUMNS",
    "ROOM_COLUMNS",
    "ROOM_WIDTH",
    "UNREAD_COLUMNS",
    "USER_COLUMNS",
    "Rows",
    "qualified",
]

USER_COLUMNS = (
    "id, name, password_hash, group_id, attributes, grants, denies, created_at, updated_at, version"
)
GROUP_COLUMNS = "id, name, permissions, parent_id, created_at, updated_at, version"
ROOM_COLUMNS = "id, kind, name, topic, meta, created_by, created_at, epoch, last_seq, dm_key"
MEMBER_COLUMNS = "room_id, user_id, role, joined_at, read_seq"
#: A new membership's row: its columns, then the counts kept beside its read marker.
NEW_MEMBER_COLUMNS = f"{MEMBER_COLUMNS}, read_msgs, own_after"
#: What a member's unread count is read from (rooms ``r``, members ``m``; see
#: :mod:`homer.store.rules`).
UNREAD_COLUMNS = "r.msgs, m.read_msgs, m.own_after"
MESSAGE_COLUMNS = "room_id, seq, id, sender_id, client_id, kind, ts, body"
#: Without ``id``, which the database gives each entry, in the order it was written.
AUDIT_COLUMNS = "actor, action, target, at, detail"

ROOM_WIDTH = len(ROOM_COLUMNS.split(", "))
MEMBER_WIDTH = len(MEMBER_COLUMNS.split(", "))
_LISTED_WIDTH = ROOM_WIDTH + MEMBER_WIDTH

_NO_NAMES: frozenset[str] = frozenset()


def qualified(alias: str, columns: str) -> str:
    """``a.x, a.y`` from ``x, y``: for joins."""
    return ", ".join(f"{alias}.{column}" for column in columns.split(", "))


class Rows:
    """Records from rows and rows from records, for one adapter's column formats.

    ``load_json`` / ``dump_json`` convert a JSON column (attributes, room
    metadata, message bodies); ``load_names`` / ``dump_names`` a set of names
    (permissions, grants, denies), stored sorted.
    """

    __slots__ = ("_dump_json", "_dump_names", "_load_json", "_load_names")

    def __init__(
        self,
        *,
        load_json: Callable[[Any], Any],
        dump_json: Callable[[Any], Any],
        load_names: Callable[[Any], Iterable[str]],
        dump_names: Callable[[list[str]], Any],
    ) -> None:
        self._load_json = load_json
        self._dump_json = dump_json
        self._load_names = load_names
        self._dump_names = dump_names

    def names(self, values: Iterable[str]) -> Any:
        return self._dump_names(sorted(values))

    def name_set(self, raw: Any) -> frozenset[str]:
        """Most users have no overrides: they all share one empty set."""
        names = self._load_names(raw)
        return frozenset(names) if names else _NO_NAMES

    # -- rows -> records --------------------------------------------------------------

    def user(self, row: Sequence[Any]) -> UserRecord:
        return UserRecord(
            id=row[0],
            name=row[1],
            password_hash=row[2],
            group_id=row[3],
            attributes=self._load_json(row[4]),
            grants=self.name_set(row[5]),
            denies=self.name_set(row[6]),
            created_at=row[7],
            updated_at=row[8],
            version=row[9],
        )

    def group(self, row: Sequence[Any]) -> GroupRecord:
        return GroupRecord(
            id=row[0],
            name=row[1],
            permissions=frozenset(self._load_names(row[2])),
            parent_id=row[3],
            created_at=row[4],
            updated_at=row[5],
            version=row[6],
        )

    def room(self, row: Sequence[Any]) -> RoomRecord:
        return RoomRecord(
            id=row[0],
            kind=row[1],
            name=row[2],
            topic=row[3],
            meta=self._load_json(row[4]),
            created_by=row[5],
            created_at=row[6],
            epoch=row[7],
            last_seq=row[8],
            dm_key=row[9],
        )

    @staticmethod
    def member(row: Sequence[Any]) -> MemberRecord:
        return MemberRecord(
            room_id=row[0], user_id=row[1], role=row[2], joined_at=row[3], read_seq=row[4]
        )

    def message(self, row: Sequence[Any]) -> MessageRecord:
        return MessageRecord(
            room_id=row[0],
            seq=row[1],
            id=row[2],
            sender_id=row[3],
            client_id=row[4],
            kind=row[5],
            ts=row[6],
            body=self._load_json(row[7]),
        )

    def room_and_member(self, row: Sequence[Any]) -> tuple[RoomRecord, MemberRecord]:
        """A room's columns, then a membership's."""
        values = tuple(row)
        return self.room(values[:ROOM_WIDTH]), self.member(values[ROOM_WIDTH:_LISTED_WIDTH])

    def listed_room(self, row: Sequence[Any], cap: int) -> tuple[RoomRecord, MemberRecord, int]:
        """A room's columns, a membership's, then :data:`UNREAD_COLUMNS`: the room and
        the membership with the member's unread count (at most ``cap``)."""
        values = tuple(row)
        return (*self.room_and_member(values), unread(*values[_LISTED_WIDTH:], cap=cap))

    @staticmethod
    def unread_count(row: Sequence[Any], cap: int) -> tuple[str, int]:
        """A room id, then :data:`UNREAD_COLUMNS`: the member's unread count there."""
        room_id, msgs, read_msgs, own_after = row
        return room_id, unread(msgs, read_msgs, own_after, cap=cap)

    def audit_entry(self, row: Sequence[Any]) -> AuditEntry:
        """``id`` then :data:`AUDIT_COLUMNS`."""
        return AuditEntry(
            id=row[0],
            actor=row[1],
            action=row[2],
            target=row[3],
            at=row[4],
            detail=self._load_json(row[5]),
        )

    @staticmethod
    def revocations(tokens: Iterable[Sequence[Any]], users: Iterable[Sequence[Any]]) -> Revocations:
        """From (jti, expires_at) and (user_id, not_before) rows."""
        return Revocations({row[0]: row[1] for row in tokens}, {row[0]: row[1] for row in users})

    # -- records -> rows --------------------------------------------------------------

    def user_row(self, user: UserRecord) -> tuple[Any, ...]:
        return (
            user.id,
            user.name,
            user.password_hash,
            user.group_id,
            self._dump_json(user.attributes),
            self.names(user.grants),
            self.names(user.denies),
            user.created_at,
            user.updated_at,
            user.version,
        )

    def group_row(self, group: GroupRecord) -> tuple[Any, ...]:
        return (
            group.id,
            group.name,
            self.names(group.permissions),
            group.parent_id,
            group.created_at,
            group.updated_at,
            group.version,
        )

    def room_row(self, room: RoomRecord) -> tuple[Any, ...]:
        return (
            room.id,
            room.kind,
            room.name,
            room.topic,
            self._dump_json(room.meta),
            room.created_by,
            room.created_at,
            room.epoch,
            room.last_seq,
            room.dm_key,
        )

    def audit_row(self, event: AuditEvent) -> tuple[Any, ...]:
        """In :data:`AUDIT_COLUMNS` order."""
        return (event.actor, event.action, event.target, event.at, self._dump_json(event.detail))

    def room_changes(
        self, *, name: str | None, topic: str | None, meta: Mapping[str, Any] | None
    ) -> list[tuple[str, Any]]:
        """The columns an update of a room sets (what is given), with their values."""
        changes: list[tuple[str, Any]] = [
            (column, value)
            for column, value in (("name", name), ("topic", topic))
            if value is not None
        ]
        if meta is not None:
            changes.append(("meta", self._dump_json(meta)))
        return changes

    @staticmethod
    def member_row(member: MemberRecord, marker: ReadMarker) -> tuple[Any, ...]:
        """A new membership in :data:`NEW_MEMBER_COLUMNS` order, its read marker where
        ``marker`` (worked out by the adapter) put it."""
        return (
            member.room_id,
            member.user_id,
            member.role,
            member.joined_at,
            marker.seq,
            marker.msgs,
            marker.own,
        )

    @staticmethod
    def message_row(message: MessageRecord, body: Any) -> tuple[Any, ...]:
        """``message`` as a row, with its ``body`` as already encoded."""
        return (
            message.room_id,
            message.seq,
            message.id,
            message.sender_id,
            message.client_id,
            message.kind,
            message.ts,
            body,
        )
