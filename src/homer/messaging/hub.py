"""Local fan-out: which of this node's connections get which event.

The hot path of a chat server. An event is encoded at most once per wire
format (:class:`Outgoing`), then the same bytes go to every member's
connection: no task, no await and no encoding per recipient.

Each connection has, per room, a *delivery cursor*: the highest ``seq`` sent to
it. Every room event that reaches a connection passes it, whatever brought the
event (the broker, a replay, a parked event, a read from the store), and
nothing at or below it goes out again: that is what keeps "each once, in
order, no gap" on several nodes, where the same event can come both live and
from the store. Most connections are level with their room (their cursor is
the last seq the room fanned out), so only the others' cursors are kept: the
fan-out to a room where everyone is level costs nothing more.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, Protocol, TypeVar

from homer.protocol.envelope import Envelope

__all__ = ["Hub", "Outgoing", "Sink", "WireFormat"]


class WireFormat(Protocol):
    """A codec and a framing together: how one transport puts an envelope on the wire."""

    def render(self, envelope: Envelope) -> bytes: ...


class Outgoing:
    """One event, rendered lazily and at most once per wire format."""

    __slots__ = ("_first", "_first_bytes", "_others", "envelope")

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self._first: WireFormat | None = None
        self._first_bytes = b""
        self._others: dict[WireFormat, bytes] | None = None

    def render(self, fmt: WireFormat) -> bytes:
        if fmt is self._first:
            return self._first_bytes
        if self._first is None:
            self._first = fmt
            self._first_bytes = fmt.render(self.envelope)
            return self._first_bytes
        others = self._others
        if others is None:
            others = self._others = {}
        found = others.get(fmt)
        if found is None:
            found = others[fmt] = fmt.render(self.envelope)
        return found


class Sink(Protocol):
    """A connection as the hub sees it: something to push rendered events into."""

    def push(self, out: Outgoing) -> None:
        """Queue ``out`` for sending; never blocks. A sink that cannot keep up closes
        itself with a reason; it must never slow the caller down."""

    def push_many(self, outs: list[Outgoing]) -> None:
        """Several events in one write (a batch committed together)."""

    def send(self, envelope: Envelope) -> None:
        """An event for this connection alone (a resume's replay): not fan-out, so a
        transport that bounds its queue by fanned-out events does not count it."""


#: What one hub holds: a node's hub holds its peers, whose sessions it may then read.
SinkT = TypeVar("SinkT", bound=Sink)


class _Hold:
    """A connection's live events of one room set aside while it catches up."""

    __slots__ = ("depth", "outs")

    def __init__(self) -> None:
        #: Catch-ups in progress (a ``resume`` can come while another runs).
        self.depth = 1
        self.outs: list[Outgoing] = []


class Hub(Generic[SinkT]):
    """Room id -> the local sinks subscribed to it with their delivery cursors, and
    user id -> that user's sinks. Typed by what its sinks are, so that a caller
    gets back what it put in."""

    __slots__ = (
        "_batch",
        "_cursors",
        "_holds",
        "_on_first",
        "_on_gap",
        "_on_last",
        "_parked",
        "last_seq",
        "rooms",
        "users",
    )

    def __init__(
        self,
        *,
        on_first: Callable[[str], None] = lambda key: None,
        on_last: Callable[[str], None] = lambda key: None,
        on_gap: Callable[[str], None] = lambda room: None,
    ) -> None:
        self.rooms: dict[str, set[SinkT]] = {}
        #: Room -> the delivery cursor (the highest seq sent) of each sink that is not
        #: level with the room: new, held, or ahead of it after a replay. Any other
        #: sink's cursor is the last seq the room fanned out, ``last_seq``.
        self._cursors: dict[str, dict[SinkT, int]] = {}
        #: A list, not a set: a user has a few connections, and an idle one is small.
        self.users: dict[str, list[SinkT]] = {}
        #: The highest room sequence number delivered here, per room.
        self.last_seq: dict[str, int] = {}
        #: Sinks catching up on a room: live events wait here until the backlog is sent.
        self._holds: dict[str, dict[SinkT, _Hold]] = {}
        self._on_first = on_first
        self._on_last = on_last
        #: While a batch is open: what each sink gets at the end, in one write.
        self._batch: dict[SinkT, list[Outgoing]] | None = None
        #: Room events that arrived ahead of a missing one, by sequence number: they
        #: wait until the gap fills (from the broker, or from the store via ``on_gap``).
        self._parked: dict[str, dict[int, Envelope]] = {}
        self._on_gap = on_gap

    # -- membership -------------------------------------------------------------

    def subscribe(self, room: str, sink: SinkT) -> None:
        """Send ``room``'s events to ``sink`` from now on; subscribing again keeps its
        cursor. A new subscriber's cursor is 0: it gets whatever the room delivers
        next, unless a hold or :meth:`move_cursor` says otherwise."""
        sinks = self.rooms.get(room)
        if sinks is None:
            sinks = self.rooms[room] = set()
            self._on_first(f"room.{room}")
        if sink not in sinks:
            sinks.add(sink)
            self._cursors.setdefault(room, {})[sink] = 0

    def unsubscribe(self, room: str, sink: SinkT) -> None:
        sinks = self.rooms.get(room)
        if sinks is None:
            return
        sinks.discard(sink)
        cursors = self._cursors.get(room)
        if cursors is not None:
            cursors.pop(sink, None)
            if not cursors:
                del self._cursors[room]
        holds = self._holds.get(room)
        if holds is not None:
            holds.pop(sink, None)
            if not holds:
                del self._holds[room]
        if not sinks:
            del self.rooms[room]
            self.last_seq.pop(room, None)
            self._parked.pop(room, None)
            self._on_last(f"room.{room}")

    def attach_user(self, user_id: str, sink: SinkT) -> None:
        sinks = self.users.get(user_id)
        if sinks is None:
            sinks = self.users[user_id] = []
            self._on_first(f"user.{user_id}")
        if sink not in sinks:
            sinks.append(sink)

    def detach_user(self, user_id: str, sink: SinkT) -> None:
        sinks = self.users.get(user_id)
        if sinks is None or sink not in sinks:
            return
        sinks.remove(sink)
        if not sinks:
            del self.users[user_id]
            self._on_last(f"user.{user_id}")

    # -- catching up --------------------------------------------------------------

    def hold(self, room: str, sink: SinkT) -> None:
        """From now on keep ``room``'s live events for ``sink`` instead of pushing them,
        until as many :meth:`release` calls as holds."""
        holds = self._holds.setdefault(room, {})
        held = holds.get(sink)
        if held is None:
            holds[sink] = _Hold()
            # Its cursor stays where it is while the room moves on without it.
            cursor = self.cursor(room, sink)
            if cursor is not None:
                self._cursors.setdefault(room, {})[sink] = cursor
        else:
            held.depth += 1

    def release(self, room: str, sink: SinkT) -> None:
        """End a hold; after the last one, push what was held past ``sink``'s cursor."""
        holds = self._holds.get(room)
        held = holds.get(sink) if holds is not None else None
        if held is None or holds is None:
            return
        held.depth -= 1
        if held.depth > 0:
            return
        del holds[sink]
        if not holds:
            del self._holds[room]
        self._through_cursor(room, sink, held.outs)

    def cursor(self, room: str, sink: SinkT) -> int | None:
        """``sink``'s delivery cursor in ``room``, or ``None`` when not subscribed."""
        sinks = self.rooms.get(room)
        if sinks is None or sink not in sinks:
            return None
        cursors = self._cursors.get(room)
        if cursors is not None:
            cursor = cursors.get(sink)
            if cursor is not None:
                return cursor
        return self.last_seq.get(room, 0)

    def move_cursor(self, room: str, sink: SinkT, seq: int) -> None:
        """``sink`` has everything up to ``seq`` (a snapshot, a client's position):
        nothing at or below it is sent there. A cursor never moves back."""
        cursor = self.cursor(room, sink)
        if cursor is not None and seq > cursor:
            self._cursors.setdefault(room, {})[sink] = seq

    def replay(self, room: str, sink: SinkT, envelopes: list[Envelope]) -> None:
        """Events for ``sink`` alone (a resume's answer and backlog), held or not: in
        order, past its cursor, after whatever the hub queued for it before."""
        self._through_cursor(room, sink, [Outgoing(envelope) for envelope in envelopes], alone=True)

    def _through_cursor(
        self, room: str, sink: SinkT, outs: list[Outgoing], *, alone: bool = False
    ) -> None:
        last = self.cursor(room, sink)
        if last is None:  # not (or no longer) following the room
            kept = outs
        else:
            kept = []
            for out in outs:
                seq = out.envelope.seq
                if seq is None:
                    kept.append(out)
                elif seq > last:
                    last = seq
                    kept.append(out)
            self._cursors.setdefault(room, {})[sink] = last
        if not kept:
            return
        batch = self._batch
        if batch is not None:  # behind what the batch already holds for it
            batch.setdefault(sink, []).extend(kept)
        elif alone:
            for out in kept:
                sink.send(out.envelope)
        elif len(kept) == 1:
            sink.push(kept[0])
        else:
            sink.push_many(kept)

    # -- delivery -------------------------------------------------------------------

    def begin_batch(self) -> None:
        """Collect deliveries until :meth:`end_batch`, then write each sink's at once:
        a batch of messages committed together costs one write per member, not one
        per message per member."""
        if self._batch is None:
            self._batch = {}

    @property
    def batching(self) -> bool:
        """Whether a batch is open (:meth:`begin_batch`)."""
        return self._batch is not None

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """``begin_batch`` ... ``end_batch`` as a ``with`` block (nesting is harmless)."""
        if self._batch is not None:
            yield
            return
        self.begin_batch()
        try:
            yield
        finally:
            self.end_batch()

    def end_batch(self) -> None:
        batch, self._batch = self._batch, None
        for sink, outs in (batch or {}).items():
            if len(outs) == 1:
                sink.push(outs[0])
            else:
                sink.push_many(outs)

    def to_room(self, room: str, envelope: Envelope) -> None:
        """Deliver a room event to every local subscriber, in sequence order.

        Events of one room can arrive out of order (several nodes publish them, or
        two code paths commit close together): one past a gap is parked until the
        missing ones arrive or :meth:`gap` reports it and the node reads them from
        the store. A sequence number already delivered here is a duplicate: dropped.
        """
        seq = envelope.seq
        if seq is not None:
            last = self.last_seq.get(room)
            if last is not None:
                if seq <= last:
                    return
                if seq != last + 1:
                    self._park(room, seq, envelope)
                    return
            self.last_seq[room] = seq
        self._fan_out(room, envelope)
        if seq is not None and room in self._parked:
            self._unpark(room)

    def seed(self, room: str, last_seq: int) -> None:
        """Take ``last_seq`` as delivered in ``room`` unless events already went out:
        a node that starts following a room from a snapshot notices a later gap."""
        self.last_seq.setdefault(room, last_seq)

    def gap(self, room: str) -> tuple[int, int] | None:
        """``(last delivered, first parked)`` while ``room`` waits for missing events."""
        parked = self._parked.get(room)
        if not parked:
            return None
        return self.last_seq.get(room, 0), min(parked)

    def skip_gap(self, room: str) -> None:
        """The missing events do not exist (purged): deliver what is parked."""
        parked = self._parked.get(room)
        if parked:
            self.last_seq[room] = min(parked) - 1
            self._unpark(room)

    def _park(self, room: str, seq: int, envelope: Envelope) -> None:
        parked = self._parked.get(room)
        if parked is None:
            parked = self._parked[room] = {}
            parked[seq] = envelope
            self._on_gap(room)
        else:
            parked[seq] = envelope

    def _unpark(self, room: str) -> None:
        parked = self._parked[room]
        last = self.last_seq[room]
        while (envelope := parked.pop(last + 1, None)) is not None:
            last += 1
            self.last_seq[room] = last
            self._fan_out(room, envelope)
        for stale in [seq for seq in parked if seq <= last]:
            del parked[stale]
        if not parked:
            del self._parked[room]

    def _fan_out(self, room: str, envelope: Envelope) -> None:
        sinks = self.rooms.get(room)
        if not sinks:
            return
        out = Outgoing(envelope)
        holds = self._holds.get(room)
        batch = self._batch
        seq = envelope.seq
        cursors = self._cursors.get(room) if seq is not None else None
        if holds is None and batch is None and cursors is None:
            # The hot path: every member level with the room, nothing to compare.
            for sink in sinks:
                sink.push(out)
            return
        for sink in sinks:
            held = holds.get(sink) if holds is not None else None
            if held is not None:
                held.outs.append(out)
                continue
            if cursors is not None:
                cursor = cursors.get(sink)
                if cursor is not None:
                    if seq is not None and seq <= cursor:
                        continue  # sent already (a replay, a read from the store)
                    del cursors[sink]  # level with the room from now on
            if batch is None:
                sink.push(out)
            else:
                pending = batch.get(sink)
                if pending is None:
                    batch[sink] = [out]
                else:
                    pending.append(out)
        if cursors is not None and not cursors and self._cursors.get(room) is cursors:
            del self._cursors[room]

    def to_user(self, user_id: str, envelope: Envelope) -> None:
        self.to_sinks(self.users.get(user_id, ()), envelope)

    def to_sinks(self, sinks: Iterable[SinkT], envelope: Envelope) -> None:
        out: Outgoing | None = None
        for sink in sinks:
            if out is None:
                out = Outgoing(envelope)
            sink.push(out)

    def everyone(self) -> set[SinkT]:
        found: set[SinkT] = set()
        for sinks in self.users.values():
            found.update(sinks)
        return found
