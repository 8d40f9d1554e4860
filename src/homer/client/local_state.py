"""What a client keeps on the user's machine: the storage of :mod:`homer.client.offline`.

One :class:`LocalState` per account and server, in one file of local
persistent queues (:mod:`homer.client.queues`):

- ``unread/<room>``: the messages of others received and not read yet, oldest
  first. Reading the room takes them (:meth:`LocalState.take_unread`); those at
  or below the server's read marker are dropped whenever a welcome brings it,
  so the local count follows reads made on another device.
- ``history/<room>``: the latest messages of the room (the last
  ``history_size``, oldest dropped), shown at once when a client starts; the
  newest one is also where the client resumes the room from.
- ``outbox``: what the user sent that the server has not acknowledged (sends,
  and read markers to move), in order. Each item stays until its answer
  comes; after a crash it goes again with the same client id, which the server
  turns into the original ack: nothing is sent twice.

One client process holds a directory at a time (a lock file): a second gets
:class:`StateInUse`.

A received message is stored before the application is handed it, so a
client killed at any point resumes from what it stored: it may be handed a
message again, never miss one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
import platformdirs

from homer.client.message_state import CHANGE_KINDS, apply_changes
from homer.client.queues import AsyncQueueFile, Item, Overflow, QueueNotFound
from homer.errors import Conflict
from homer.protocol.envelope import Envelope

__all__ = ["LocalState", "Queued", "StateInUse", "default_state_root", "state_directory"]

UNREAD = "unread/"
HISTORY = "history/"
OUTBOX = "outbox"
USER_ID = "user-id"


def default_state_root() -> Path:
    """Where clients keep their state unless told: the user's data directory."""
    return Path(platformdirs.user_data_dir("homer", appauthor=False)) / "clients"


def state_directory(root: Path, server: str, account: str) -> Path:
    """``root/<server>/<account>``: one directory per account and server, with
    names safe on every file system (and a digest, so that two names that read
    alike once made safe stay apart)."""
    return root / _safe(server) / _safe(account)


def _safe(text: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:40] or "_"
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


@dataclass(frozen=True, slots=True)
class Queued:
    """An outbox item: the operation (``send`` or ``read``), its parameters, and
    its id in the queue."""

    op: str
    params: dict[str, Any]
    id: int


@dataclass(frozen=True, slots=True)
class Stored:
    """A message as the local history keeps it: with its room's history epoch."""

    epoch: int
    envelope: Envelope


class LocalState:
    """The queues of one account on one server (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        history_size: int = 200,
        unread_size: int = 10_000,
        outbox_size: int = 10_000,
    ) -> None:
        self.directory = directory
        self.history_size = history_size
        self.unread_size = unread_size
        self.outbox_size = outbox_size
        self.queues = AsyncQueueFile(directory / "state.db")
        #: Queues known to exist (each room's are made on its first message).
        self._made: set[str] = set()
        #: Room -> the seq of the newest unread message kept (read from the file once).
        self._unread_tail: dict[str, int] = {}
        self._lock: IO[bytes] | None = None
        #: The account's user id, from the last welcome (kept for offline starts).
        self.user_id: str | None = None

    async def open(self) -> None:
        self._lock = await asyncio.to_thread(_hold, self.directory)
        await self.queues.open()
        await self.queues.create(OUTBOX, capacity=self.outbox_size, overflow=Overflow.REFUSE)
        self.user_id = await asyncio.to_thread(_read_text, self.directory / USER_ID)

    async def remember_user(self, user_id: str) -> None:
        """Keep the account's user id (a welcome's), for what is shown offline."""
        if user_id != self.user_id:
            await asyncio.to_thread((self.directory / USER_ID).write_text, user_id, "utf-8")
            self.user_id = user_id

    async def close(self) -> None:
        await self.queues.close()
        if self._lock is not None:
            self._lock.close()  # and the lock with it
            self._lock = None

    # -- received messages ----------------------------------------------------------

    async def positions(self) -> dict[str, tuple[int, int]]:
        """Room id -> ``(epoch, seq)`` of the newest message stored."""
        found: dict[str, tuple[int, int]] = {}
        for info in await self.queues.list_queues():
            if not info.name.startswith(HISTORY):
                continue
            newest = await self.queues.newest(info.name, 1)
            if newest:
                stored = _stored(newest[-1].data)
                if stored.envelope.seq is not None:
                    found[info.name[len(HISTORY) :]] = (stored.epoch, stored.envelope.seq)
        return found

    async def record(self, room: str, epoch: int, envelope: Envelope, *, unread: bool) -> None:
        """Keep a message received: in the room's history, and its unread messages
        when ``unread``. Unread first: a crash between the two leaves the history
        behind, so the message comes again and is not added twice (by seq)."""
        data = msgspec.json.encode(Stored(epoch, envelope))
        seq = envelope.seq or 0
        if unread:
            name = await self._room_queue(UNREAD, room, self.unread_size)
            tail = self._unread_tail.get(room)
            if tail is None:  # the first since the file was opened: read it once
                newest = await self.queues.newest(name, 1)
                tail = (_stored(newest[-1].data).envelope.seq or 0) if newest else 0
            if tail < seq:
                await self.queues.push(name, data)
                tail = seq
            self._unread_tail[room] = tail
        await self.queues.push(await self._room_queue(HISTORY, room, self.history_size), data)

    async def unread(self, room: str) -> int:
        return await self._length(UNREAD + room)

    async def unread_counts(self) -> dict[str, int]:
        return {
            info.name[len(UNREAD) :]: info.length
            for info in await self.queues.list_queues()
            if info.name.startswith(UNREAD) and info.length
        }

    async def take_unread(self, room: str) -> list[Envelope]:
        """The room's unread messages, oldest first, taken from the queue."""
        taken: list[Envelope] = []
        name = UNREAD + room
        if not await self._length(name):
            return taken
        while (item := await self.queues.pop(name)) is not None:
            taken.append(_stored(item.data).envelope)
        # As they are now: with the changes received since, kept in the room's history.
        changes = [
            stored.envelope
            for item in await self.queues.newest(HISTORY + room, self.history_size)
            if (stored := _stored(item.data)).envelope.kind in CHANGE_KINDS
        ]
        if not changes:
            return taken
        merged = sorted([*taken, *changes], key=lambda e: e.seq or 0)
        return apply_changes(merged, None)  # the changes applied, and left out

    async def drop_read(self, room: str, read: int) -> None:
        """Forget the unread messages at or below the read marker ``read``."""
        name = UNREAD + room
        if not await self._length(name):
            return
        while (item := await self.queues.peek(name)) is not None:
            if (_stored(item.data).envelope.seq or 0) > read:
                return
            await self.queues.pop(name)

    async def cached(self, room: str, limit: int = 50, *, me: str | None = None) -> list[Envelope]:
        """The room's latest ``limit`` messages kept here, oldest first, as they are
        now: the edits, redactions and reactions kept with them applied (``me``: whose
        reactions are marked as one's own)."""
        name = HISTORY + room
        if not await self._length(name):
            return []
        # Changes are kept among the messages: read past them to fill the page.
        newest = await self.queues.newest(name, limit * 4)
        return apply_changes([_stored(item.data).envelope for item in newest], me)[-limit:]

    async def forget(self, room: str) -> None:
        """The room is gone (left) or its history was purged: drop what is kept."""
        self._unread_tail.pop(room, None)
        for name in (UNREAD + room, HISTORY + room):
            self._made.discard(name)
            with contextlib.suppress(QueueNotFound):
                await self.queues.destroy(name)

    # -- the outbox -------------------------------------------------------------------

    async def put(self, op: str, params: dict[str, Any]) -> Queued:
        """Store an operation to send, after every one stored before it."""
        item_id = await self.queues.push_json(OUTBOX, {"op": op, "params": params})
        return Queued(op, params, item_id)

    async def pending(self) -> list[Queued]:
        """Every operation left from before, in order."""
        return [_outgoing(item) for item in await self.queues.newest(OUTBOX, self.outbox_size)]

    async def done(self, outgoing: Queued) -> None:
        """The oldest operation is answered: forget it. (They are answered in order,
        by the one process that holds the directory.)"""
        item = await self.queues.pop(OUTBOX)
        if item is None or item.id != outgoing.id:
            raise RuntimeError(f"the outbox changed under this client: {item} is not {outgoing}")

    async def queued(self) -> int:
        return await self.queues.length(OUTBOX)

    # -- helpers ----------------------------------------------------------------------

    async def _room_queue(self, prefix: str, room: str, capacity: int) -> str:
        name = prefix + room
        if name not in self._made:
            await self.queues.create(name, capacity=capacity, overflow=Overflow.DROP_OLDEST)
            self._made.add(name)
        return name

    async def _length(self, name: str) -> int:
        try:
            return await self.queues.length(name)
        except QueueNotFound:
            return 0


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8").strip() or None
    except FileNotFoundError:
        return None


def _hold(directory: Path) -> IO[bytes]:
    """Make the directory (owner only) and lock it for this process: two clients
    sharing one outbox would send each other's messages."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "state.lock"
    handle = path.open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StateInUse(f"another client process is using {path.parent}") from None
    return handle


class StateInUse(Conflict):
    """Another client process holds the state directory."""


def _stored(data: bytes) -> Stored:
    return msgspec.json.decode(data, type=Stored)


def _outgoing(item: Item) -> Queued:
    value = item.json()
    return Queued(str(value["op"]), dict(value["params"]), item.id)
