"""The rules of the Store port that are not SQL, written once for every adapter.

Each adapter reads what a rule needs with its own SQL, under its own locks, and
hands it to one of these pure functions: the verdict (which error, with which
message) is then the same whatever the backend. The append rules are in
:mod:`homer.store.appends`, the row conversions in :mod:`homer.store.rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from typing import Any, Literal, TypeVar

from homer.errors import Conflict, Forbidden, HomerError, InvalidInput, NotFound
from homer.store.records import AuditEvent, MemberRecord, Page, RoomRecord

__all__ = [
    "Named",
    "audit_events",
    "check_heir",
    "check_join",
    "check_members",
    "check_name_free",
    "missed_update",
    "no_room",
    "not_a_member",
    "page",
    "room_taken",
    "room_to_join",
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
    if room.kind == "dm":
        raise Forbidden("a direct conversation has exactly its two users")
    if banned:
        raise Forbidden(f"you are banned from {room.id!r}")
    if room.kind == "private" and not invited:
        raise Forbidden(f"{room.id!r} is private: it takes an invitation")
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
