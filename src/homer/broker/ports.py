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

    def bind(self, key: str) -> None:
        """Start receiving ``key``'s events. Returns at once (it runs on the fan-out
        path, when a first local session needs a key); an adapter that must talk to
        a server applies its bindings in order in the background."""

    def unbind(self, key: str) -> None:
        """Stop receiving ``key``'s events; returns at once, like :meth:`bind`."""
