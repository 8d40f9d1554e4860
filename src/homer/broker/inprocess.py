"""The embedded default broker: one process, so publishing is delivering.

An event goes straight to the node if its key is bound. Binding is a set
update, so there is no window in which a key is subscribed but not yet bound,
and no event is ever lost: ``on_resync`` is never called.
"""

from __future__ import annotations

from homer.broker.ports import Deliver, Resync
from homer.errors import BrokerError
from homer.protocol.envelope import Envelope

__all__ = ["InProcessBroker"]


class InProcessBroker:
    __slots__ = ("_deliver", "_keys")

    instant = True

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._keys: set[str] = set()

    async def start(self, deliver: Deliver, on_resync: Resync | None = None) -> None:
        self._deliver = deliver
        self._keys.add("all")

    async def stop(self) -> None:
        self._deliver = None

    async def publish(self, key: str, envelope: Envelope) -> None:
        deliver = self._deliver
        if deliver is None:
            raise BrokerError("the broker is not started")
        if key in self._keys:
            deliver(key, envelope)

    def bind(self, key: str) -> None:
        self._keys.add(key)

    def unbind(self, key: str) -> None:
        self._keys.discard(key)

    async def settled(self) -> None:
        """Nothing to wait for: :meth:`bind` and :meth:`unbind` apply at once."""
