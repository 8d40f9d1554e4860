"""Publishing live events: one place that knows the routing keys.

When the broker cannot take an event, the message behind it is already stored:
the event goes to this node's own sessions at once, waits (a bounded number of
them) to be published again when the broker is back, and other nodes that
miss it meanwhile find the gap and read the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from homer.broker.ports import Broker, Deliver
from homer.errors import BrokerError
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


log = logging.getLogger("homer.broker")


class Events:
    """Routing keys: ``room.<id>``, ``user.<id>``, ``all``."""

    __slots__ = ("_failed", "broker", "local", "unsent")

    def __init__(
        self,
        broker: Broker,
        local: Deliver,
        *,
        keep: int = 10_000,
        failed: Callable[[], None] = lambda: None,
    ) -> None:
        self.broker = broker
        #: This node's own delivery, for events the broker could not take.
        self.local = local
        #: Events to publish again once the broker is back (the oldest go first
        #: when more than ``keep`` wait: other nodes read those from the store).
        self.unsent: deque[tuple[str, Envelope]] = deque(maxlen=keep)
        self._failed = failed

    async def to_room(self, room_id: str, envelope: Envelope) -> None:
        await self.publish(f"room.{room_id}", envelope)

    async def to_rooms(self, envelopes: list[Envelope]) -> None:
        """Several room events (a batch committed together), in order. On a broker
        that confirms each publish, their confirms are awaited together."""
        if self.broker.instant or len(envelopes) == 1:
            for envelope in envelopes:
                await self.publish(f"room.{envelope.room}", envelope)
        else:
            await asyncio.gather(*(self.publish(f"room.{e.room}", e) for e in envelopes))

    async def to_user(self, user_id: str, envelope: Envelope) -> None:
        await self.publish(f"user.{user_id}", envelope)

    async def to_everyone(self, envelope: Envelope) -> None:
        await self.publish("all", envelope)

    async def publish(self, key: str, envelope: Envelope) -> None:
        try:
            await self.broker.publish(key, envelope)
        except BrokerError as exc:
            if not self.unsent:
                log.warning("broker unavailable, events wait for it: %s", exc)
            self.unsent.append((key, envelope))
            self._failed()
            self.local(key, envelope)

    async def republish(self) -> int:
        """Publish what the broker could not take, in order; stop at the first failure."""
        sent = 0
        while self.unsent:
            key, envelope = self.unsent[0]
            try:
                await self.broker.publish(key, envelope)
            except BrokerError:
                break
            self.unsent.popleft()
            sent += 1
        return sent
