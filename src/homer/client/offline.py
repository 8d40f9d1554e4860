"""A client that works offline: what :class:`~homer.client.HomerClient` does with a
state directory (``state_dir=``).

- **Received messages** are stored (:class:`~homer.client.local_state.LocalState`)
  before the application sees them, in arrival order, by one task. The newest
  stored message of each room is where the client resumes it after a restart.
- **Unread messages** of others are kept per room until the application reads
  the room (:meth:`Keeper.read_room`), which also moves the server's read
  marker. A welcome's read markers drop what was read elsewhere; a room seen for
  the first time with unread messages has them read from its history.
- **The outbox**: every send and every read marker to move is stored first,
  then sent by one task, one at a time and in order, whenever the client is
  connected; a rate limit is waited out, a refusal (``forbidden``, ``not_found``,
  ...) is reported and dropped. After a crash what was left goes again with
  its client id; the server answers a repeat with the original ack.
- **Status**: ``online``, ``reconnecting`` or ``offline``, with the number of
  operations queued, as :attr:`Keeper.status` and :attr:`Keeper.queued`, and as
  a ``status`` event whenever either changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from homer.client.errors import ClientError, ConnectionLost
from homer.client.local_state import LocalState, Queued
from homer.errors import HomerError
from homer.protocol.envelope import Envelope

if TYPE_CHECKING:
    from homer.client import HomerClient

__all__ = ["Keeper"]

log = logging.getLogger("homer.client")

#: Unread messages read from a room's history when a client first sees it.
FIRST_UNREAD = 500


class Keeper:
    """The offline side of one client (see the module docstring)."""

    def __init__(self, client: HomerClient, state: LocalState) -> None:
        self.client = client
        self.state = state
        #: ``online``, ``reconnecting`` or ``offline``.
        self.status = "offline"
        self._incoming: asyncio.Queue[Envelope | tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._outbox: deque[Queued] = deque()
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._wake = asyncio.Event()
        self._read: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._opened = False
        #: Set while nothing waits in the outbox.
        self._empty = asyncio.Event()

    @property
    def queued(self) -> int:
        """Operations in the outbox, not answered yet."""
        return len(self._outbox)

    async def open(self) -> dict[str, tuple[int, int]]:
        """Open the state and take the outbox left from before; the rooms' positions
        (``(epoch, seq)``) kept from before."""
        if self._opened:
            return {}
        await self.state.open()
        self._opened = True
        positions = await self.state.positions()
        self._outbox.extend(await self.state.pending())
        if not self.queued:
            self._empty.set()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._record()), loop.create_task(self._pump())]
        self._wake.set()
        return positions

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(ConnectionLost("client closed"))
        if self._opened:
            self._opened = False
            await self.state.close()

    # -- status -----------------------------------------------------------------------

    def set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self._announce()
        if status == "online":
            self._wake.set()

    def _announce(self) -> None:
        self.client.events.put_nowait(
            Envelope(op="status", body={"status": self.status, "queued": self.queued})
        )

    # -- received ---------------------------------------------------------------------

    def incoming(self, envelope: Envelope) -> None:
        """An event for the application: stored first if it is a message."""
        self._incoming.put_nowait(envelope)

    def welcomed(self, welcome: dict[str, Any]) -> None:
        """A new connection's welcome: its read markers and unread counts, taken in
        turn with the messages that follow it."""
        self._incoming.put_nowait(("welcome", welcome))

    async def _record(self) -> None:
        client = self.client
        while True:
            item = await self._incoming.get()
            try:
                if isinstance(item, tuple):
                    await self._reconcile(item[1])
                    continue
                await self._keep(item)
            except (HomerError, OSError) as exc:  # the disk: say so, hand the event on
                log.warning("could not keep %s locally: %s", item, exc)
            except Exception:  # a bug here must not stop the events
                log.exception("could not keep %s locally", item)
            finally:
                self._incoming.task_done()
            if isinstance(item, Envelope):
                client.events.put_nowait(item)

    async def settled(self) -> None:
        """Wait until what was received so far (and the last welcome) is kept."""
        await self._incoming.join()

    async def drained(self) -> None:
        """Wait until the outbox is empty: everything in it answered."""
        await self._empty.wait()

    async def _keep(self, envelope: Envelope) -> None:
        room = envelope.room
        if room is None:
            return
        if envelope.op == "msg" and envelope.seq is not None:
            position = self.client.positions.get(room)
            epoch = position.epoch if position is not None else 1
            mine = envelope.uid == self.client.user_id
            unread = envelope.kind == "msg" and not mine and envelope.seq > self._read.get(room, 0)
            await self.state.record(room, epoch, envelope, unread=unread)
        elif envelope.op in ("purged", "left"):
            await self.state.forget(room)

    async def _reconcile(self, welcome: dict[str, Any]) -> None:
        client = self.client
        me = welcome.get("user", {}).get("id")
        if isinstance(me, str):
            await self.state.remember_user(me)
        known = await self.state.positions()
        for info in welcome.get("rooms", []):
            room, read, unread = info["id"], int(info.get("read", 0)), int(info.get("unread", 0))
            self._read[room] = max(self._read.get(room, 0), read)
            stored = known.get(room)
            if stored is not None and stored[0] != info.get("epoch"):
                await self.state.forget(room)  # purged while away
                stored = None
            await self.state.drop_read(room, self._read[room])
            if stored is None and unread and not await self.state.unread(room):
                # First sight of a room with a backlog: its unread messages, from history.
                with contextlib.suppress(HomerError):
                    answer = await client.request(
                        "history", room=room, after=read, limit=min(unread, FIRST_UNREAD)
                    )
                    for raw in answer["messages"]:
                        message = msgspec.convert(raw, Envelope)
                        if message.kind == "msg" and message.uid != me:
                            await self.state.record(room, info["epoch"], message, unread=True)

    # -- unread -----------------------------------------------------------------------

    async def read_room(self, room: str) -> list[Envelope]:
        """The room's unread messages, oldest first, now read: taken from the local
        queue, and the server's read marker moved past them (through the outbox)."""
        taken = await self.state.take_unread(room)
        position = self.client.positions.get(room)
        seq = max([position.seq if position else 0] + [m.seq or 0 for m in taken])
        if seq > self._read.get(room, 0):
            self._read[room] = seq
            await self._queue("read", {"room": room, "seq": seq})
        return taken

    # -- the outbox ---------------------------------------------------------------------

    async def send(self, params: dict[str, Any], *, wait: bool) -> Any:
        """Store a send in the outbox; its ack when ``wait``, else at once its cid."""
        future = await self._queue("send", params)
        return await future if wait else params["cid"]

    async def _queue(self, op: str, params: dict[str, Any]) -> asyncio.Future[Any]:
        outgoing = await self.state.put(op, params)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # seen by nobody: fine
        self._waiters[outgoing.id] = future
        self._outbox.append(outgoing)
        self._empty.clear()
        self._wake.set()
        self._announce()
        return future

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox and self.status == "online":
                outgoing = self._outbox[0]
                try:
                    result = await self.client.request(outgoing.op, **outgoing.params)
                except ConnectionLost:
                    break  # sent again once connected
                except ClientError as exc:
                    if exc.wire_code == "rate_limited":
                        await asyncio.sleep(float(exc.body.get("retry_after", 0.1)))
                        continue
                    await self._settle(outgoing, exc)
                    self.client.events.put_nowait(
                        Envelope(
                            op="send_failed",
                            room=outgoing.params.get("room"),
                            body={"op": outgoing.op, "params": outgoing.params, **exc.body},
                        )
                    )
                    continue
                await self._settle(outgoing, result)

    async def _settle(self, outgoing: Queued, result: Any) -> None:
        await self.state.done(outgoing)
        self._outbox.popleft()
        future = self._waiters.pop(outgoing.id, None)
        if future is not None and not future.done():
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if not self.queued:
            self._empty.set()
        self._announce()
