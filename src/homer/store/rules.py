"""The rules of the Store port that are not SQL, written once for every adapter.

Each adapter reads what a rule needs with its own SQL, under its own locks, and
hands it to one of these pure functions: the verdict (which error, with which
message) is then the same whatever the backend. The append rules are in
:mod:`homer.store.appends`, the row conversions in :mod:`homer.store.rows`.

Unread counts are kept, not counted at each read (decision 0014). Three numbers,
all about the messages of kind :data:`UNREAD_KIND` still stored:

- the room's ``msgs``: how many it has;
- a member's ``read_msgs``: how many of them lie at or before the read marker;
- a member's ``own_after``: how many of those past the marker the member sent.

The member's unread count is what is neither (:func:`unread`): one row
per room to read, whatever the history. An append adds to the room's ``msgs`` and
to its sender's ``own_after`` (the new message is past every marker); a purge sets
all three to 0; a marker that moves counts one span of history
(:meth:`ReadMarker.move`).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from homer.errors import Conflict, Forbidden, HomerError, InvalidInput, NotFound
from homer.store.records import AuditEvent, MemberRecord, Page, RoomRecord

__all__ = [
    "UNREAD_KIND",
    "Named",
    "ReadMarker",
    "ReadMove",
    "Tally",
    "audit_events",
    "check_heir",
    "check_join",
    "check_members",
    "check_name_free",
    "check_skeleton_free",
    "missed_update",
    "no_room",
    "not_a_member",
    "page",
    "room_taken",
    "room_to_join",
    "unique_skeleton",
    "unread",
    "window",
]

T = TypeVar("T")

#: The tables whose rows have a unique name and a version.
Named = Literal["users", "groups"]

_KIND: dict[str, str] = {"users": "user", "groups": "group"}


def check_name_free(table: Named, name: str, *, holder: str | None, own_id: str) -> None:
    """``holder`` is the id of the row that has ``name`` (by name key), if any: a
    Conflict that names the clash, before the unique index fails without saying."""
    if holder is not None and holder != own_id:
        raise Conflict(f"a {_KIND[table]} named {name!r} already exists")


def check_skeleton_free(table: Named, name: str, *, holder: str | None, own_id: str) -> None:
    """``holder`` is the id of the row whose name looks like ``name`` (the same
    :func:`~homer.confusables.skeleton`), if any."""
    if holder is not None and holder != own_id:
        raise Conflict(
            f"{name!r} looks like the name of an existing {_KIND[table]}: choose another name"
        )


def unique_skeleton(skeleton: str, row_id: str, *, taken: bool) -> str:
    """The skeleton stored for a row written before skeletons were: its own, or, if
    an older row ``taken`` it already, one made unique with the row's id (the two
    names were both taken before look-alikes were refused; both stay)."""
    return f"{skeleton}#{row_id}" if taken else skeleton


def missed_update(table: Named, row_id: str, version: int | None) -> HomerError:
    """Why an update that follows versions touched no row: the row is gone
    (``version`` is ``None``), or another change came first."""
    if version is None:
        return NotFound(f"no {_KIND[table]} with id {row_id}")
    return Conflict(f"the {_KIND[table]} was changed concurrently (now at version {version})")


def check_heir(group_id: str, heir_id: str, found: Container[str] | None = None) -> None:
    """A deleted group's members go to an heir: another group, and both must exist
    (``found``: the ids of those two that do, once read)."""
    if heir_id == group_id:
        raise Conflict("a group cannot be its own heir")
    if found is not None:
        for wanted in (group_id, heir_id):
            if wanted not in found:
                raise NotFound(f"no group with id {wanted}")


def no_room(room_id: str) -> NotFound:
    return NotFound(f"no room with id {room_id}")


def not_a_member(room_id: str, user_id: str) -> NotFound:
    return NotFound(f"{user_id} is not a member of room {room_id}")


def check_members(room: RoomRecord, members: Sequence[MemberRecord]) -> None:
    """A room's first members are members of that room."""
    strays = sorted({m.room_id for m in members if m.room_id != room.id})
    if strays:
        raise InvalidInput(f"members of room {room.id} name other rooms: {', '.join(strays)}")


def room_taken(room: RoomRecord, *, id_taken: bool, dm_taken: bool) -> None:
    """A room's id is unique, and so is a direct conversation's pair of users."""
    if id_taken:
        raise Conflict(f"a room with id {room.id} already exists")
    if dm_taken:
        raise Conflict(f"a direct-message room for {room.dm_key!r} already exists")


def room_to_join(room_id: str, room: RoomRecord | None) -> RoomRecord:
    """The room a join names (``None``: there is none, which says so)."""
    if room is None:
        raise NotFound(f"no room {room_id!r}")
    return room


def check_join(
    room: RoomRecord, *, banned: bool, invited: bool, count: int, max_rooms: int
) -> None:
    """The joining rules for one who is not a member yet; ``count`` is how many rooms
    they are in already."""
    if banned:  # they were in it: that it exists is no secret to them
        raise Forbidden(f"you are banned from {room.id!r}")
    if room.kind == "dm" or (room.kind == "private" and not invited):
        # The same answer as for no room at all: a private room's or a DM's existence
        # is not told to whoever may not join it.
        room_to_join(room.id, None)
    if count >= max_rooms:
        raise Conflict(f"a user may be in at most {max_rooms} rooms")


def window(limit: int) -> int:
    """How many rows to read for a page of ``limit``: one more, to know whether a next
    page exists (a negative limit is 0: SQLite would read every row)."""
    return max(limit, 0) + 1


def page(
    rows: Sequence[Any], limit: int, load: Callable[[Any], T], cursor: Callable[[Any], str]
) -> Page[T]:
    """A page of at most ``limit`` records from ``rows`` (read :func:`window` at most):
    one row more than the page says there is a next one, which starts after the
    ``cursor`` of the page's last row."""
    limit = max(limit, 0)
    more = len(rows) > limit and limit > 0
    kept = rows[:limit]
    return Page([load(row) for row in kept], cursor(kept[-1]) if more else None)


def audit_events(audit: AuditEvent | Sequence[AuditEvent]) -> Sequence[AuditEvent]:
    """One change's audit entries: a change made of several (a rename with an update)
    writes them all in its one transaction."""
    return (audit,) if isinstance(audit, AuditEvent) else audit


#: The kind of message an unread count counts: what users write, not membership and
#: room changes.
UNREAD_KIND = "msg"


@dataclass(frozen=True, slots=True)
class Tally:
    """The stored :data:`UNREAD_KIND` messages in a span of a room's history: how
    many, and how many of them one member sent."""

    msgs: int = 0
    own: int = 0


def unread(room_msgs: int, read_msgs: int, own_after: int, *, cap: int) -> int:
    """A member's unread count from the kept counts: the room's messages that are
    neither at or before the marker nor the member's own; at most ``cap``."""
    return max(0, min(room_msgs - read_msgs - own_after, cap))


@dataclass(frozen=True, slots=True)
class ReadMarker:
    """A member's read marker (``seq``) and the two counts kept beside it: ``msgs``,
    the room's stored messages of :data:`UNREAD_KIND` at or before it, and ``own``,
    the member's own past it (the module's ``read_msgs`` and ``own_after``)."""

    seq: int = 0
    msgs: int = 0
    own: int = 0

    @classmethod
    def at_start(cls, own: int) -> ReadMarker:
        """A new member's marker before it is moved where the membership says: at 0,
        where nothing is read and every stored message of theirs (``own``) is past it."""
        return cls(0, 0, own)

    @classmethod
    def first(cls, member: MemberRecord, room: RoomRecord) -> ReadMarker:
        """A member's marker in a room being created: no further than its last seq,
        and with no history, nothing to count."""
        return cls(max(0, min(member.read_seq, room.last_seq)))

    def move(self, wanted: int, *, last_seq: int, room_msgs: int) -> ReadMove | None:
        """Forward to ``wanted``, never back and never past ``last_seq``; ``None`` if
        the marker stays. The move says which span to tally: the shorter of the one
        the marker passes and the one left past it, so a marker moved to the end
        counts nothing and no move counts more than half of the history that was
        past the marker."""
        to = max(self.seq, min(wanted, last_seq))
        if to == self.seq:
            return None
        if to - self.seq <= last_seq - to:
            return ReadMove(self, to, room_msgs, after=self.seq, upto=to, passed=True)
        return ReadMove(self, to, room_msgs, after=to, upto=last_seq, passed=False)


@dataclass(frozen=True, slots=True)
class ReadMove:
    """A read marker moving forward to ``to``. The adapter tallies the seqs
    (``after``, ``upto``] (reading nothing when the span is :attr:`empty`) and gets
    the marker with its new counts from :meth:`result`."""

    marker: ReadMarker
    to: int
    room_msgs: int
    after: int
    upto: int
    #: The span is the one the marker passes; else the one left past it.
    passed: bool

    @property
    def empty(self) -> bool:
        return self.upto <= self.after

    def result(self, tally: Tally) -> ReadMarker:
        if self.passed:
            return ReadMarker(self.to, self.marker.msgs + tally.msgs, self.marker.own - tally.own)
        # What is not past the new marker is at or before it.
        return ReadMarker(self.to, self.room_msgs - tally.msgs, tally.own)
