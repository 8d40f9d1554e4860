"""The Broker port.

Live traffic only: the store is the source of truth, the broker carries what
is happening now. Routing keys are ``room.<id>`` for a room's events,
``user.<id>`` for one user's (unread counts, invitations, presence), and
``all`` for broadcasts. A node binds the keys its local sessions need and
unbinds them when the last such session leaves; every adapter binds ``all``
itself when it starts.

Every adapter delivers a key's events to a node in the order they were
published from one node; with several publishers, ordering per room is the
node's job (by sequence number, see :class:`homer.messaging.hub.Hub`).
Delivery is at most once: after a gap (the broker went away) the adapter calls
``on_resync`` and the node reads what it missed from the store.

:mod:`homer.testing.broker_conformance` checks all of this for an adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from homer.protocol.envelope import Envelope

__all__ = ["Broker", "Deliver", "Resync"]

#: What a node does with an event that arrived for one of its keys.
Deliver = Callable[[str, Envelope], None]

#: Called after live delivery was interrupted and is whole again: the node catches
#: up from the store, since events published during the gap are lost for it.
Resync = Callable[[], None]


class Broker(Protocol):
    #: True when a binding applies at once and no event is ever lost (one process):
    #: the node then never needs to read the store to catch a room up.
    instant: bool

    @property
    def connected(self) -> bool:
        """Whether events flow now (``homer_broker_connected``); read at any time."""

    async def start(self, deliver: Deliver, on_resync: Resync | None = None) -> None:
        """Connect; from now on events for bound keys (and ``all``) go to ``deliver``,
        on the event loop. ``on_resync`` is called after a reconnection, once every
        binding is back; an adapter that never loses events never calls it."""

    async def stop(self) -> None:
        """Disconnect; ``deliver`` is not called any more. Calling it twice is harmless."""

    async def publish(self, key: str, envelope: Envelope) -> None:
        """Send ``envelope`` to every node bound to ``key`` (this one included).

        Raises :class:`homer.errors.BrokerError` promptly when the broker cannot take
        it now (never waits for a reconnection): the caller has stored the event
        already, and the nodes catch up from the store."""

    async def publish_many(self, key: str, envelopes: Sequence[Envelope]) -> None:
        """Send several events for one ``key`` at once, as :meth:`publish` would one
        after the other: in order, all or none. What a commit batch holds for one
        room costs the broker one message, not one per event."""

    def bind(self, key: str) -> None:
        """Start receiving ``key``'s events. Returns at once (it runs on the fan-out
        path, when a first local session needs a key); an adapter that must talk to
        a server applies its bindings in order in the background. Binding a key
        already bound is harmless. An adapter may also deliver keys that are not
        bound (the in-process one delivers everything): the node drops events
        no local session needs."""

    def unbind(self, key: str) -> None:
        """Stop receiving ``key``'s events; returns at once, like :meth:`bind`.
        Unbinding a key not bound is harmless."""

    async def settled(self) -> None:
        """Wait until every :meth:`bind` and :meth:`unbind` made before the call is
        applied, so that events published from any node from then on follow them.
        May wait for a reconnection: bound it with a timeout."""
