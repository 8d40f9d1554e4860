"""What the store conformance kit builds its scenarios from: records to store,
and a base with the steps several scenarios share."""

from __future__ import annotations

import uuid
from typing import Any

from homer.errors import HomerError
from homer.store.ports import Store
from homer.store.records import (
    Appended,
    AuditEvent,
    GroupRecord,
    MemberRecord,
    MessageRecord,
    NewMessage,
    RoomRecord,
    UserRecord,
)

__all__ = [
    "KitBase",
    "event",
    "fields_of",
    "make_group",
    "make_member",
    "make_room",
    "make_user",
    "new_message",
    "record_of",
    "stored_message",
]


def event(
    action: str = "test", target: str = "t", actor: str = "tester", at: float = 1.0
) -> AuditEvent:
    return AuditEvent(actor=actor, action=action, target=target, at=at, detail={"k": [1, "ü"]})


def make_group(name: str = "users", **overrides: Any) -> GroupRecord:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": name,
        "permissions": frozenset({"room.post"}),
        "created_at": 10.0,
        "updated_at": 10.0,
    }
    fields.update(overrides)
    return GroupRecord(**fields)


def make_user(name: str, group_id: str, **overrides: Any) -> UserRecord:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": name,
        "password_hash": "$argon2id$not-a-real-hash",
        "group_id": group_id,
        "attributes": {"email": f"{name}@example.org"},
        "created_at": 20.0,
        "updated_at": 20.0,
    }
    fields.update(overrides)
    return UserRecord(**fields)


def make_room(kind: str = "public", **overrides: Any) -> RoomRecord:
    fields: dict[str, Any] = {
        "id": f"room-{uuid.uuid4()}",
        "kind": kind,
        "name": "Lobby",
        "created_by": "u-owner",
        "created_at": 30.0,
        "topic": "all things",
        "meta": {"colour": "teal", "pinned": [1, 2]},
    }
    fields.update(overrides)
    return RoomRecord(**fields)


def make_member(room_id: str, user_id: str, role: str = "member", **overrides: Any) -> MemberRecord:
    fields: dict[str, Any] = {
        "room_id": room_id,
        "user_id": user_id,
        "role": role,
        "joined_at": 31.0,
    }
    fields.update(overrides)
    return MemberRecord(**fields)


def new_message(
    room_id: str, sender_id: str = "u-ann", text: str = "hello", **overrides: Any
) -> NewMessage:
    fields: dict[str, Any] = {
        "room_id": room_id,
        "id": str(uuid.uuid4()),
        "sender_id": sender_id,
        "client_id": str(uuid.uuid4()),
        "kind": "msg",
        "ts": 100.0,
        "body": {"text": text},
    }
    fields.update(overrides)
    return NewMessage(**fields)


def stored_message(outcome: Appended | HomerError) -> MessageRecord:
    """The message an append outcome holds (failing the test if it is an error)."""
    assert isinstance(outcome, Appended), f"expected a stored message, got {outcome!r}"
    return outcome.message


def fields_of(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}


def record_of(message: NewMessage, seq: int) -> MessageRecord:
    return MessageRecord(
        room_id=message.room_id,
        seq=seq,
        id=message.id,
        sender_id=message.sender_id,
        client_id=message.client_id,
        kind=message.kind,
        ts=message.ts,
        body=message.body,
    )


class KitBase:
    """Steps several scenarios share."""

    async def _group(self, store: Store, name: str = "users") -> GroupRecord:
        group = make_group(name)
        await store.insert_group(group, event("group.create", f"group:{name}"))
        return group

    async def _room(self, store: Store, *members: str, **overrides: Any) -> RoomRecord:
        """A room made with ``members`` (user ids) in it from the start."""
        room = make_room(**overrides)
        await store.create_room(room, [make_member(room.id, user_id) for user_id in members])
        return room
