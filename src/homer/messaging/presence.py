"""Presence and typing: ephemeral signals, fanned out and never stored.

Presence is per user (online while any session is connected and not away,
away when every session says so, offline when the last session goes) and
coalesced: changes
within ``presence_delay`` seconds collapse into one announcement, so a
reconnect does not flash "offline" to everyone. It goes to the rooms the
user is in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from homer.clock import Clock, system_clock
from homer.messaging.events import Events
from homer.protocol.envelope import Envelope

__all__ = ["Presence"]


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


class Presence:
    def __init__(
        self,
        events: Events,
        rooms_of: Callable[[str], Iterable[str]] = lambda user_id: (),
        *,
        delay: float = 1.0,
        batch: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        clock: Clock = system_clock,
    ) -> None:
        self.events = events
        #: The rooms a user is in now (the union over their live sessions).
        self.rooms_of = rooms_of
        self.delay = delay
        #: Wraps each round of announcements, so that a member gets all of a round's
        #: changes in one write (a room of 1,000 coming online is not a million writes).
        self.batch = batch
        self.clock = clock
        #: Connected sessions per user on this node, and how many of them are away.
        self.sessions: dict[str, int] = {}
        self.away: dict[str, int] = {}
        #: The last status announced per user.
        self.announced: dict[str, str] = {}
        self._pending: dict[str, tuple[str, str, frozenset[str]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def status(self, user_id: str) -> str:
        return self.announced.get(user_id, "offline")

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
            self._change(user_id, name, status, rooms)

    def _change(self, user_id: str, name: str, status: str, rooms: Iterable[str]) -> None:
        self._pending[user_id] = (name, status, frozenset(rooms))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._due)

    def _due(self) -> None:
        """One round: every change of the window, each user's latest only."""
        self._timer = None
        pending, self._pending = self._pending, {}
        round_: list[tuple[str, str, str, frozenset[str]]] = []
        for user_id, (name, status, rooms) in pending.items():
            if self.announced.get(user_id, "offline") == status:
                continue  # it changed and changed back within the window: say nothing
            if status == "offline":
                self.announced.pop(user_id, None)
            else:
                self.announced[user_id] = status
            rooms = rooms | frozenset(self.rooms_of(user_id))  # joined meanwhile
            round_.append((user_id, name, status, rooms))
        if round_:
            task = asyncio.get_running_loop().create_task(self._announce_round(round_))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _announce_round(self, round_: list[tuple[str, str, str, frozenset[str]]]) -> None:
        with self.batch():
            for user_id, name, status, rooms in round_:
                await self._announce(user_id, name, status, rooms)

    async def _announce(self, user_id: str, name: str, status: str, rooms: frozenset[str]) -> None:
        for room in sorted(rooms):
            await self.events.to_room(
                room,
                Envelope(
                    op="presence", room=room, sender=name, uid=user_id, body={"status": status}
                ),
            )

    async def introduce(self, user_id: str, name: str, room: str) -> None:
        """Tell a room the user just joined what the user's status is."""
        status = self.announced.get(user_id)
        if status is not None:
            await self._announce(user_id, name, status, frozenset((room,)))

    async def flush(self) -> None:
        """Announce everything pending now (on shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._due()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
