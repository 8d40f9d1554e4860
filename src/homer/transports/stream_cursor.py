"""The resume cursor of a one-way stream of several rooms (SSE, long-poll).

A cursor is every room's ``(epoch, seq)`` as plain text
(:mod:`homer.protocol.cursor`): exact, and stateless on the server, so a
client resumes on any node and after a restart (decision 0009). Both
transports keep it the same way, start from it the same way, and filter the
user's events to the rooms of the stream the same way: here, once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from homer.core.ops import Position
from homer.core.session import Peer, Session
from homer.errors import InvalidInput
from homer.protocol.cursor import (
    MAX_CURSOR,
    ROOMS_SEP,
    CursorError,
    encode_position,
    parse_cursor,
)
from homer.protocol.envelope import Envelope

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["MAX_CURSOR", "Cursor", "Start", "decode_cursor", "encode_position", "plan_start"]


def decode_cursor(cursor: str) -> dict[str, Position]:
    """Room -> position from a cursor, or :class:`InvalidInput`."""
    try:
        parsed = parse_cursor(cursor)
    except CursorError as exc:
        raise InvalidInput(str(exc)) from None
    return {room: Position(epoch=epoch, seq=seq) for room, (epoch, seq) in parsed.items()}


class Start:
    """Where a stream starts: every room's position, the rooms that continue from
    the snapshot (``fresh``), and those replayed from the client's cursor."""

    __slots__ = ("fresh", "positions", "resume")

    def __init__(
        self,
        positions: dict[str, tuple[int, int]],
        fresh: dict[str, int],
        resume: dict[str, Position],
    ) -> None:
        self.positions = positions
        self.fresh = fresh
        self.resume = resume


def plan_start(
    session: Session,
    infos: list[dict[str, Any]],
    resume: Mapping[str, Position],
    rooms: Collection[str] | None,
) -> Start:
    """The start of a stream opened with :func:`~homer.core.ops.open_session`.

    A stream of named ``rooms`` resumes only those; a stream of all the user's rooms
    also answers for rooms the user has left since (``resumed``, not recovered).
    """
    kept = {
        room: position
        for room, position in resume.items()
        if rooms is None or room in session.rooms
    }
    positions = {
        info["id"]: (info["epoch"], info["last_seq"]) for info in infos if info["id"] not in kept
    }
    fresh = {room: seq for room, (_, seq) in positions.items()}
    positions.update({room: (p.epoch, p.seq) for room, p in kept.items()})
    return Start(positions, fresh, kept)


class Cursor:
    """One stream's position in each of its rooms. Its text is built only when asked,
    each room's part encoded at most once per change."""

    __slots__ = ("_positions", "_segments", "follows_joins")

    def __init__(self, *, follows_joins: bool) -> None:
        #: Whether rooms the user joins while the stream is open are added to it
        #: (a stream of all the user's rooms), or left out (a stream of named rooms).
        self.follows_joins = follows_joins
        self._positions: dict[str, tuple[int, int]] = {}
        #: Room -> its part of the cursor.
        self._segments: dict[str, str] = {}

    def text(self) -> str:
        segments = self._segments
        parts = []
        for room, (epoch, seq) in self._positions.items():
            part = segments.get(room)
            if part is None:
                part = segments[room] = encode_position(room, epoch, seq)
            parts.append(part)
        return ROOMS_SEP.join(parts)

    def sole_epoch(self, room: str) -> int | None:
        """The epoch of ``room`` when it is the only room of the stream: then the
        stream's cursor is that room's position alone, the same for every such stream."""
        positions = self._positions
        if len(positions) == 1:
            position = positions.get(room)
            if position is not None:
                return position[0]
        return None

    def start(self, positions: Mapping[str, tuple[int, int]]) -> None:
        for room, (epoch, seq) in positions.items():
            self.move(room, epoch, seq)

    def move(self, room: str, epoch: int, seq: int) -> None:
        self._positions[room] = (epoch, seq)
        self._segments.pop(room, None)

    def drop(self, room: str) -> None:
        self._positions.pop(room, None)
        self._segments.pop(room, None)

    def admits(self, app: Homer, peer: Peer, envelope: Envelope) -> bool:
        """Whether ``envelope`` belongs in the stream. A room joined while a stream of
        named rooms is open is left out, and ``peer`` unsubscribed from it."""
        room = envelope.room
        if room is None:
            return True
        session = peer.session
        if envelope.op == "invited":  # to a room the user is not in yet
            return self.follows_joins
        if envelope.op == "joined":
            if self.follows_joins:
                return True
            if session is not None:
                session.drop_room(room)
            app.hub.unsubscribe(room, peer)
            return False
        # Otherwise a user event about a room outside this stream.
        return room in self._positions or (session is not None and room in session.rooms)

    def advance(self, envelope: Envelope) -> bool:
        """Move past ``envelope``; whether a position moved (the event gets an id)."""
        room = envelope.room
        if room is None:
            return False
        if envelope.seq is not None:
            epoch = self._positions.get(room, (1, 0))[0]
            self.move(room, epoch, envelope.seq)
            return True
        body = envelope.body if isinstance(envelope.body, dict) else {}
        op = envelope.op
        if op == "purged" or op == "joined" or (op == "resumed" and not body.get("recovered")):
            new_epoch, last = body.get("epoch"), body.get("last_seq")
            if isinstance(new_epoch, int) and isinstance(last, int):
                self.move(room, new_epoch, last)
            else:  # no longer in the room: nothing to resume there
                self.drop(room)
            return True
        if op == "left":
            self.drop(room)
            return True
        return False
