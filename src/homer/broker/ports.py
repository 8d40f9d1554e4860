"""The Broker port.

Live traffic only: the store is the source of truth, the broker carries what
is happening now. Routing keys are ``room.<id>`` for a room's events,
``user.<id>`` for one user's (unread counts, invitations, presence), and
``all`` for broadcasts. A node binds the keys its local sessions need and
unbinds them when the last such session leaves.

Every adapter delivers a key's events to a node in the order they were
published from one node; with several publishers, ordering per room is the
node's job (by sequence number, see :class:`homer.messaging.hub.Hub`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from homer.protocol.envelope import Envelope

__all__ = ["Broker", "Deliver"]

#: What a node does with an event that arrived for one of its keys.
Deliver = Callable[[str, Envelope], None]


class Broker(Protocol):
    async def start(self, deliver: Deliver) -> None:
        """Connect; from now on events for bound keys go to ``deliver``."""

    async def stop(self) -> None: ...

    async def publish(self, key: str, envelope: Envelope) -> None:
        """Send ``envelope`` to every node bound to ``key`` (this one included)."""

    async def bind(self, key: str) -> None: ...

    async def unbind(self, key: str) -> None: ...
