"""The embedded default broker: one process, so publishing is delivering.

Every event goes straight to the node, which keeps what its sessions need:
there is no window in which a key is subscribed but not yet bound, no event
is ever lost (``on_resync`` is never called), and nothing is kept per key
(a set of bound keys would cost every idle connection a few hundred bytes).
"""

from __future__ import annotations

from collections.abc import Sequence

from homer.broker.ports import Deliver, Resync
from homer.errors import BrokerError
from homer.protocol.envelope import Envelope

__all__ = ["InProcessBroker"]


class InProcessBroker:
    __slots__ = ("_deliver",)

    instant = True
    #: Nothing between the node and itself can break.
    connected = True

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver, on_resync: Resync | None = None) -> None:
        self._deliver = deliver

    async def stop(self) -> None:
        self._deliver = None

    async def publish(self, key: str, envelope: Envelope) -> None:
        deliver = self._deliver
        if deliver is None:
            raise BrokerError("the broker is not started")
        deliver(key, envelope)

    async def publish_many(self, key: str, envelopes: Sequence[Envelope]) -> None:
        deliver = self._deliver
        if deliver is None:
            raise BrokerError("the broker is not started")
        for envelope in envelopes:
            deliver(key, envelope)

    def bind(self, key: str) -> None:
        """Nothing to do: every event reaches this one node anyway."""

    def unbind(self, key: str) -> None:
        """Nothing to do, as for :meth:`bind`."""

    async def settled(self) -> None:
        """Nothing to wait for: :meth:`bind` and :meth:`unbind` apply at once."""
