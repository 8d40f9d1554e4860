"""Publishing live events: one place that knows the routing keys.

The ack of a send depends on the commit, never on the broker, and neither does
the delivery to this node's own sessions. On a broker that talks to a server,
a room event (it has a ``seq``) goes to this node's sessions at once, and its
copy coming back from the broker is dropped by sequence number; every event
then waits, in order, in a queue that one task publishes from. When the
broker cannot take an event (it is away, or did not confirm in time, which
makes the adapter reconnect), the message behind it is stored already: the
queue keeps it (a bounded number) until the broker is back, events without a
``seq`` go to this node's sessions meanwhile, and other nodes that miss a
room event find the gap and read the store.
"""

from __future__ import annotations

import asyncio
import contextlib
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

#: Events published together, their confirms awaited together.
_BATCH = 256


class _Unsent:
    """An event waiting for the broker, and whether this node's sessions have it."""

    __slots__ = ("envelope", "key", "local")

    def __init__(self, key: str, envelope: Envelope, *, local: bool) -> None:
        self.key = key
        self.envelope = envelope
        self.local = local


class Events:
    """Routing keys: ``room.<id>``, ``user.<id>``, ``all``."""

    __slots__ = ("_down", "_failed", "_pump", "broker", "keep", "local", "unsent")

    def __init__(
        self,
        broker: Broker,
        local: Deliver,
        *,
        keep: int = 10_000,
        failed: Callable[[int], None] = lambda count: None,
    ) -> None:
        self.broker = broker
        #: This node's own delivery.
        self.local = local
        #: Events not yet taken by the broker, oldest first; past ``keep`` the oldest
        #: are dropped (other nodes read those from the store).
        self.unsent: deque[_Unsent] = deque()
        self.keep = keep
        self._failed = failed
        self._pump: asyncio.Task[None] | None = None
        #: Whether the last publish failed: events wait for :meth:`republish`.
        self._down = False

    async def to_room(self, room_id: str, envelope: Envelope) -> None:
        await self.publish(f"room.{room_id}", envelope)

    async def to_rooms(self, envelopes: list[Envelope]) -> None:
        """Several room events (a batch committed together), in order."""
        for envelope in envelopes:
            await self.publish(f"room.{envelope.room}", envelope)

    async def to_user(self, user_id: str, envelope: Envelope) -> None:
        await self.publish(f"user.{user_id}", envelope)

    async def to_everyone(self, envelope: Envelope) -> None:
        await self.publish("all", envelope)

    async def publish(self, key: str, envelope: Envelope) -> None:
        if not self.broker.instant:
            self.enqueue(key, envelope)
            return
        try:  # publishing is delivering, in this process
            await self.broker.publish(key, envelope)
        except BrokerError as exc:
            log.warning("the broker could not take an event: %s", exc)
            self._failed(1)
            self.local(key, envelope)

    def enqueue(self, key: str, envelope: Envelope) -> None:
        """Deliver what this node can at once, and queue ``envelope`` for the broker."""
        local = envelope.seq is not None or self._down
        if local:
            self.local(key, envelope)
        unsent = self.unsent
        unsent.append(_Unsent(key, envelope, local=local))
        if len(unsent) > self.keep:
            unsent.popleft()
        if not self._down and self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._publish_queued())

    async def republish(self) -> int:
        """The broker is back: publish what waited, in order; how many went out."""
        self._down = False
        before = len(self.unsent)
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._publish_queued())
        await asyncio.shield(self._pump)
        return before - len(self.unsent)

    async def close(self, *, within: float) -> None:
        """Give what waits ``within`` seconds to go out, then give up on it."""
        pump = self._pump
        if pump is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await asyncio.shield(pump)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump

    async def _publish_queued(self) -> None:
        try:
            unsent = self.unsent
            while unsent and not self._down:
                batch = [unsent.popleft() for _ in range(min(len(unsent), _BATCH))]
                runs = _runs_by_key(batch)
                results = await asyncio.gather(
                    *(
                        self.broker.publish_many(run[0].key, [item.envelope for item in run])
                        for run in runs
                    ),
                    return_exceptions=True,
                )
                failed = [
                    (item, result)
                    for run, result in zip(runs, results, strict=True)
                    if isinstance(result, BaseException)
                    for item in run
                ]
                if failed:
                    self._went_down([item for item, _ in failed], failed[0][1])
        finally:
            self._pump = None

    def _went_down(self, failed: list[_Unsent], error: BaseException) -> None:
        """Keep what failed at the head, and give this node's sessions what they lack."""
        if not isinstance(error, BrokerError):
            log.error("publishing failed unexpectedly", exc_info=error)
        log.warning("broker unavailable, events wait for it: %s", error)
        self._down = True
        self._failed(len(failed))
        unsent = self.unsent
        unsent.extendleft(reversed(failed))
        while len(unsent) > self.keep:
            unsent.popleft()
        for item in unsent:
            if not item.local:
                item.local = True
                self.local(item.key, item.envelope)


def _runs_by_key(batch: list[_Unsent]) -> list[list[_Unsent]]:
    """``batch`` cut where the key changes: each run is one broker message (a commit
    batch's events for one room), and the order of the whole is kept."""
    runs: list[list[_Unsent]] = []
    for item in batch:
        if runs and runs[-1][0].key == item.key:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs
