"""Events to the broker: a commit batch's events for one room go out as one message."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from homer.broker.inprocess import InProcessBroker
from homer.messaging.events import Events
from homer.protocol.envelope import Envelope


class Recording(InProcessBroker):
    """The in-process broker as if it were remote: events wait for the pump."""

    instant = False

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, list[int | None]]] = []

    async def publish(self, key: str, envelope: Envelope) -> None:
        await self.publish_many(key, [envelope])

    async def publish_many(self, key: str, envelopes: Sequence[Envelope]) -> None:
        self.messages.append((key, [e.seq for e in envelopes]))
        await super().publish_many(key, envelopes)


async def test_a_batch_goes_out_as_one_message_per_room_in_order() -> None:
    broker = Recording()
    delivered: list[tuple[str, int | None]] = []
    await broker.start(lambda key, envelope: delivered.append((key, envelope.seq)))
    events = Events(broker, lambda key, envelope: None)
    batch = [Envelope(op="msg", room="a", seq=n) for n in range(1, 51)]
    batch += [Envelope(op="msg", room="b", seq=1), Envelope(op="msg", room="a", seq=51)]
    await events.to_rooms(batch)
    await events.to_user("u-1", Envelope(op="unread", room="a"))
    await asyncio.wait_for(events.republish(), 5)
    assert broker.messages == [
        ("room.a", list(range(1, 51))),
        ("room.b", [1]),
        ("room.a", [51]),
        ("user.u-1", [None]),
    ]
    assert [seq for key, seq in delivered if key == "room.a"] == list(range(1, 52))
