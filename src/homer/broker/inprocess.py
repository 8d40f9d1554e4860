"""The embedded default broker: one process, so publishing is delivering.

Every event goes straight to the node (which drops what no local session
needs), so there is no window in which a key is subscribed but not yet bound.
"""

from __future__ import annotations

from homer.broker.ports import Deliver
from homer.errors import BrokerError
from homer.protocol.envelope import Envelope

__all__ = ["InProcessBroker"]


class InProcessBroker:
    __slots__ = ("_deliver",)

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def stop(self) -> None:
        self._deliver = None

    async def publish(self, key: str, envelope: Envelope) -> None:
        deliver = self._deliver
        if deliver is None:
            raise BrokerError("the broker is not started")
        deliver(key, envelope)

    def bind(self, key: str) -> None:
        """Nothing to do: every event reaches this one node anyway."""

    def unbind(self, key: str) -> None:
        """Nothing to do, as for :meth:`bind`."""
