"""Publishing live events: one place that knows the routing keys."""

from __future__ import annotations

from homer.broker.ports import Broker
from homer.protocol.envelope import Envelope
from homer.store.records import MessageRecord

__all__ = ["Events", "message_envelope"]


def message_envelope(message: MessageRecord, sender_name: str | None) -> Envelope:
    return Envelope(
        op="msg",
        room=message.room_id,
        seq=message.seq,
        id=message.id,
        cid=message.client_id,
        sender=sender_name,
        uid=message.sender_id,
        ts=message.ts,
        kind=message.kind,
        body=message.body,
    )


class Events:
    """Routing keys: ``room.<id>``, ``user.<id>``, ``all``."""

    __slots__ = ("broker",)

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def to_room(self, room_id: str, envelope: Envelope) -> None:
        await self.broker.publish(f"room.{room_id}", envelope)

    async def to_user(self, user_id: str, envelope: Envelope) -> None:
        await self.broker.publish(f"user.{user_id}", envelope)

    async def to_everyone(self, envelope: Envelope) -> None:
        await self.broker.publish("all", envelope)
