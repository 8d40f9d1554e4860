"""Presence: an ephemeral signal, fanned out and never stored.

Presence is per user (online while any session is connected and not away,
away when every session says so, offline when the last session goes) and
coalesced in rounds: the first change opens a window of ``presence_delay``
seconds, and when it ends every change of the window is announced at once,
each user's latest status only, so a reconnect does not flash "offline" to
everyone. A round says, per room, what changed among the room's members: one
event per room and round, whatever the number of changes (a single change in
the ``presence`` shape, several as one ``presences`` event), rendered once and
written to every member's connection. So 5,000 users coming online in one room
within a window cost each member one frame, not 5,000.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from homer.clock import Clock, system_clock
from homer.messaging.events import Events
from homer.protocol.envelope import Envelope

__all__ = ["Presence", "presence_envelope"]

#: One change in a round: (user id, name, status).
Change = tuple[str, str, str]


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def presence_envelope(room: str, changes: list[Change]) -> Envelope:
    """A room's share of one round: a single change as a ``presence`` event (the
    member as ``sender``), several as one ``presences`` event listing them all."""
    if len(changes) == 1:
        ((user_id, name, status),) = changes
        return Envelope(op="presence", room=room, sender=name, uid=user_id, body={"status": status})
    return Envelope(
        op="presences",
        room=room,
        body={
            "changes": [
                {"uid": user_id, "name": name, "status": status}
                for user_id, name, status in changes
            ]
        },
    )


class Presence:
    def __init__(
        self,
        events: Events,
        rooms_of: Callable[[str], Iterable[str]] = lambda user_id: (),
        *,
        delay: float = 1.0,
        batch: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        clock: Clock = system_clock,
        timer: bool = True,
    ) -> None:
        self.events = events
        #: The rooms a user is in now (the union over their live sessions).
        self.rooms_of = rooms_of
        self.delay = delay
        #: Wraps each round's announcements, so that a member in several rooms gets
        #: the round's events of all of them in one write.
        self.batch = batch
        self.clock = clock
        #: Whether a round ends by itself (an event-loop timer); without, only
        #: :meth:`tick` ends it (a test that moves a manual clock).
        self.timer = timer
        #: Connected sessions per user on this node, and how many of them are away.
        self.sessions: dict[str, int] = {}
        self.away: dict[str, int] = {}
        #: The last status announced per user.
        self.announced: dict[str, str] = {}
        #: The window's changes: user id -> (name, status, rooms when it changed).
        self._pending: dict[str, tuple[str, str, frozenset[str]]] = {}
        #: Rooms that learn a member's status in the next round (they just joined):
        #: room -> user id -> name.
        self._introduce: dict[str, dict[str, str]] = {}
        #: When the open window ends (by :attr:`clock`); ``None``: no window open.
        self._due_at: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def status(self, user_id: str) -> str:
        return self.announced.get(user_id, "offline")

    def now(self, user_id: str) -> str:
        """The status as it is now on this node, before the round that announces it
        ends (a user who logged in a moment ago is ``online`` here already)."""
        pending = self._pending.get(user_id)
        return pending[1] if pending is not None else self.status(user_id)

    def connected(self, user_id: str, name: str, rooms: Iterable[str]) -> None:
        self.sessions[user_id] = self.sessions.get(user_id, 0) + 1
        self._recompute(user_id, name, rooms)

    def disconnected(
        self, user_id: str, name: str, rooms: Iterable[str], *, away: bool = False
    ) -> None:
        """A session ended; ``away`` says whether it had said it was away."""
        _decrement(self.sessions, user_id)
        if away:
            _decrement(self.away, user_id)
        self._recompute(user_id, name, rooms)

    def set_away(self, user_id: str, name: str, away: bool, rooms: Iterable[str]) -> None:
        """One session says it is away (``True``) or back (``False``); call on a change."""
        if away:
            self.away[user_id] = self.away.get(user_id, 0) + 1
        else:
            _decrement(self.away, user_id)
        self._recompute(user_id, name, rooms)

    def introduce(self, user_id: str, name: str, room: str) -> None:
        """Tell ``room``, which the user just joined, the user's status in the next
        round (nothing if the user is offline by then)."""
        self._introduce.setdefault(room, {})[user_id] = name
        self._open_window()

    def _recompute(self, user_id: str, name: str, rooms: Iterable[str]) -> None:
        """A user is online while any session is, away when all of them say so,
        offline when none is left."""
        sessions = self.sessions.get(user_id, 0)
        if sessions == 0:
            status = "offline"
        elif self.away.get(user_id, 0) >= sessions:
            status = "away"
        else:
            status = "online"
        pending = self._pending.get(user_id)
        current = pending[1] if pending is not None else self.announced.get(user_id, "offline")
        if status != current:
            self._pending[user_id] = (name, status, frozenset(rooms))
            self._open_window()

    def _open_window(self) -> None:
        if self._due_at is None:
            self._due_at = self.clock() + self.delay
            if self.timer:
                self._timer = asyncio.get_running_loop().call_later(self.delay, self._ring)

    # -- rounds ---------------------------------------------------------------------------

    def _ring(self) -> None:
        """The window's timer: announce its round in a task of its own."""
        self._timer = None
        rooms = self._round()
        if rooms:
            task = asyncio.get_running_loop().create_task(self._announce(rooms))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def tick(self, now: float) -> None:
        """End the open window if it is due at ``now`` (by :attr:`clock`), and announce
        its round before returning."""
        if self._due_at is not None and now >= self._due_at:
            await self._announce(self._round())

    def _round(self) -> dict[str, list[Change]]:
        """Close the window: what each room is told, every change of the window once
        per room (each user's latest status), in the order the users first changed."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due_at = None
        pending, self._pending = self._pending, {}
        introduce, self._introduce = self._introduce, {}
        announced = self.announced
        by_room: dict[str, dict[str, tuple[str, str]]] = {}
        for user_id, (name, status, rooms) in pending.items():
            if announced.get(user_id, "offline") == status:
                continue  # it changed and changed back within the window: say nothing
            if status == "offline":
                announced.pop(user_id, None)
            else:
                announced[user_id] = status
            change = (name, status)
            for room in rooms.union(self.rooms_of(user_id)):  # and those joined meanwhile
                found = by_room.get(room)
                if found is None:
                    by_room[room] = {user_id: change}
                else:
                    found[user_id] = change
        for room, users in introduce.items():
            for user_id, name in users.items():
                known = announced.get(user_id)
                if known is None:
                    continue  # offline (or not announced yet): nothing to tell
                found = by_room.setdefault(room, {})
                if user_id not in found:
                    found[user_id] = (name, known)
        return {
            room: [(user_id, name, status) for user_id, (name, status) in changes.items()]
            for room, changes in by_room.items()
        }

    async def _announce(self, rooms: dict[str, list[Change]]) -> None:
        """One event per room: encoded once, the same bytes to every member."""
        if not rooms:
            return
        with self.batch():
            for room in sorted(rooms):
                await self.events.to_room(room, presence_envelope(room, rooms[room]))

    async def flush(self) -> None:
        """Announce everything pending now (on shutdown)."""
        if self._due_at is not None:
            await self._announce(self._round())
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
