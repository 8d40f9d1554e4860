"""HTTP long-poll: ``/api/queues``, a user's rooms for clients that can only make
plain requests (behind proxies that cut streams, or in restricted runtimes).

A queue is a peer like an SSE stream: subscribed through the hub, with the same
resume cursor. Events wait in a bounded buffer until a poll takes them; each has
an id, monotonic per queue, and the cursor after it. A poll with ``after=N``
acknowledges (and prunes) every event up to ``N``. Past its bounds a queue is
dropped as too slow; a queue nobody polls is collected. Either way the client
registers again with its cursor and resumes from history, losing nothing.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from homer.core.session import BasePeer, CloseCode, Session
from homer.errors import ErrorCode, InvalidInput, NotFound
from homer.messaging.hub import Outgoing
from homer.protocol.codecs import Codec
from homer.protocol.envelope import Envelope
from homer.transports.stream_cursor import Cursor, encode_position

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = [
    "MAX_POLL",
    "POLL_CODECS",
    "Batch",
    "EventQueue",
    "PollFormat",
    "QueueGone",
    "Queues",
]

#: The codecs a queue may speak, with how each encodes a whole answer (a batch
#: around events the codec rendered): chosen at registration by ``Accept``.
POLL_CODECS: dict[str, Callable[[Any], bytes]] = {
    "json": msgspec.json.encode,
    "msgpack": msgspec.msgpack.encode,
}

#: Longest a poll waits, in seconds: under the 60 s that proxies commonly allow.
MAX_POLL = 55.0

#: What a closed queue's code means to a client, in a 404.
_WHY = {
    CloseCode.TOO_SLOW: "too_slow",
    CloseCode.UNAUTHENTICATED: "unauthenticated",
    CloseCode.GOING_AWAY: "going_away",
    CloseCode.NORMAL: "closed",
}


class QueueGone(NotFound):
    """404 for a queue that does not exist (any more): register again with the cursor."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, why: str, detail: str = "") -> None:
        super().__init__(f"no such queue ({detail or why}): register again with your last cursor")
        #: Why, for the client to switch on: ``unknown``, ``idle``, ``too_slow``,
        #: ``unauthenticated``, ``going_away``, ``closed``.
        self.fields = {"queue": why}


class PollFormat:
    """An event in the queue's codec: shared by every queue of that codec, so the
    hub renders it once for all of them."""

    __slots__ = ("codec", "container")

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        #: Encodes whole answers (registration, batches) in the same format.
        self.container = POLL_CODECS[codec.name]

    def render(self, envelope: Envelope) -> bytes:
        return self.codec.encode(envelope)


class _Event(msgspec.Struct, array_like=True, gc=False):
    """A buffered event. Untracked by the garbage collector (it holds no containers):
    thousands of queues buffer events, and tracked ones would slow every collection."""

    id: int
    #: The cursor after the event, encoded (shared by the queues of one room).
    cursor: bytes
    data: bytes
    #: Bytes counted against the bounds: 0 for the queue's own answers and replay.
    size: int


class _Wire(msgspec.Struct, gc=False):
    id: int
    cursor: msgspec.Raw
    event: msgspec.Raw


class Batch(msgspec.Struct):
    """A poll's answer. ``heartbeat`` marks a poll that timed out with nothing new;
    ``replaced`` one that another poll of the same queue took over."""

    queue: str
    events: list[_Wire]
    cursor: msgspec.Raw
    last_event_id: int
    heartbeat: bool = False
    replaced: bool = False


class SoleRoomCursor:
    """The cursor after an event, as an encoded string, for the queues that follow
    its room alone in one epoch: rendered once for all of them."""

    __slots__ = ("container", "epoch")

    def __init__(self, codec: Codec, epoch: int) -> None:
        self.container = POLL_CODECS[codec.name]
        self.epoch = epoch

    def render(self, envelope: Envelope) -> bytes:
        assert envelope.room is not None
        assert envelope.seq is not None
        return self.container(encode_position(envelope.room, self.epoch, envelope.seq))


class EventQueue(BasePeer):
    """One queue: a hub peer that buffers events until a poll takes them."""

    __slots__ = (
        "_bytes",
        "_counted",
        "_cursor",
        "_events",
        "_idle_at",
        "_last_id",
        "_pending",
        "_position",
        "_sole",
        "_timer",
        "_waiter",
        "app",
        "closed",
        "fmt",
        "id",
        "on_gone",
        "polling",
    )

    def __init__(
        self,
        app: Homer,
        fmt: PollFormat,
        address: str,
        *,
        follows_joins: bool,
        on_gone: Callable[[EventQueue], None],
    ) -> None:
        super().__init__(address, now=app.clock(), timeouts=app.timeouts)
        self.id = secrets.token_urlsafe(18)
        self.app = app
        self.fmt = fmt
        self.on_gone = on_gone
        #: ``why`` once closed; the queue stays known until its next poll says so.
        self.closed: str | None = None
        self.polling = 0
        self._cursor = Cursor(follows_joins=follows_joins)
        #: The cursor after the last event, encoded.
        self._position = fmt.container("")
        #: The shared cursor format of this queue's only room, in its epoch.
        self._sole: SoleRoomCursor | None = None
        self._events: deque[_Event] = deque()
        self._bytes = 0
        self._counted = 0
        self._last_id = 0
        #: Until the queue starts: what arrived meanwhile, queued after the start.
        self._pending: list[Outgoing] | None = []
        self._waiter: asyncio.Future[bool] | None = None
        self._idle_at = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def start(self, positions: Mapping[str, tuple[int, int]]) -> None:
        self._cursor.start(positions)
        self._position = self.fmt.container(self._cursor.text())
        self._touch()
        pending, self._pending = self._pending, None
        if pending:
            self.push_many(pending)

    def cursor(self) -> str:
        return self._cursor.text()

    # -- polls ----------------------------------------------------------------------

    async def poll(self, after: int | None, wait: float) -> Batch:
        """Acknowledge up to ``after``, then answer with what follows it as soon as
        there is any, or after ``wait`` seconds with nothing (a heartbeat)."""
        if self.closed is not None:
            self.on_gone(self)
            raise QueueGone(self.closed)
        if after is not None:
            self._ack(after)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)  # one poll at a time: the newer one wins
        replaced = False
        if not self._events and wait > 0:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            self.polling += 1
            try:
                async with asyncio.timeout(wait):
                    replaced = await waiter
            except TimeoutError:
                pass
            finally:
                self.polling -= 1
                if self._waiter is waiter:
                    self._waiter = None
                self._touch()
            why = self._why_closed()  # closed while it waited
            if why is not None:
                self.on_gone(self)
                raise QueueGone(why)
        events = [] if replaced else list(self._events)
        return Batch(
            queue=self.id,
            events=[_Wire(e.id, msgspec.Raw(e.cursor), msgspec.Raw(e.data)) for e in events],
            cursor=msgspec.Raw(events[-1].cursor if events else self._position),
            last_event_id=events[-1].id if events else self._last_id,
            heartbeat=not events and not replaced,
            replaced=replaced,
        )

    def _why_closed(self) -> str | None:
        return self.closed

    def _ack(self, after: int) -> None:
        if after > self._last_id:
            raise InvalidInput(f"after={after} is past this queue's last event id {self._last_id}")
        events = self._events
        while events and events[0].id <= after:
            size = events.popleft().size
            if size:
                self._bytes -= size
                self._counted -= 1

    # -- lifetime -------------------------------------------------------------------

    def _touch(self) -> None:
        """A poll ended (or the queue started): the idle clock starts again."""
        loop = asyncio.get_running_loop()
        idle = self.app.config.limits.queue_idle
        self._idle_at = loop.time() + idle
        if self._timer is None:
            self._timer = loop.call_at(self._idle_at, self._check_idle)

    def _check_idle(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        if self.polling or loop.time() < self._idle_at:
            self._timer = loop.call_at(
                max(self._idle_at, loop.time() + 1.0) if self.polling else self._idle_at,
                self._check_idle,
            )
            return
        # Idle, or closed and never polled since: forget it.
        self._end("idle", CloseCode.GOING_AWAY, "not polled in time")
        self.on_gone(self)

    def _end(self, why: str, code: int, reason: str) -> None:
        if self.closed is not None:
            return
        self.closed = why
        self.lifecycle.closing(code, reason)
        self._events.clear()
        self._bytes = self._counted = 0
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(False)
        # Not now: this may run inside the hub's fan-out, over the set it would change.
        asyncio.get_running_loop().call_soon(self.app.disconnected, self)

    def forget(self) -> None:
        """Out of the registry for good (deleted, or its end was reported)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- Peer -------------------------------------------------------------------------

    def push(self, out: Outgoing) -> None:
        if self._pending is not None:
            self._pending.append(out)
        elif self.closed is None and self._add(out):
            self._wake()

    def push_many(self, outs: list[Outgoing]) -> None:
        if self._pending is not None:
            self._pending.extend(outs)
            return
        added = False
        for out in outs:
            if self.closed is not None:
                return
            added = self._add(out) or added
        if added:
            self._wake()

    def send(self, envelope: Envelope) -> None:
        # Answers and the replay on resume, which ``resume_limit`` bounds already:
        # counted against the queue, a long replay would drop every new queue.
        if self._pending is not None:
            self._pending.append(Outgoing(envelope))
        elif self.closed is None and self._add(Outgoing(envelope), counted=False):
            self._wake()

    def ping(self) -> None:
        # A queue cannot answer a ping: polls are its sign of life (idle collection).
        self.lifecycle.received(self.app.clock())

    def close(self, code: int, reason: str) -> None:
        self._end(_WHY.get(code, "closed"), code, reason)

    def _add(self, out: Outgoing, *, counted: bool = True) -> bool:
        envelope = out.envelope
        if not self._cursor.admits(self.app, self, envelope):
            return False
        data = out.render(self.fmt)
        cursor = self._cursor
        room, seq = envelope.room, envelope.seq
        epoch = cursor.sole_epoch(room) if room is not None and seq is not None else None
        if epoch is not None:  # the common case: the same cursor as every queue of the room
            assert room is not None
            assert seq is not None
            cursor.move(room, epoch, seq)
            shared = self._sole
            if shared is None or shared.epoch != epoch:
                shared = self._sole = self.app.codecs.wire_format(
                    self.fmt.codec.name, SoleRoomCursor, epoch
                )
            self._position = out.render(shared)
        elif cursor.advance(envelope):
            self._position = self.fmt.container(cursor.text())
        self._last_id += 1
        size = len(data) + len(self._position) if counted else 0
        self._events.append(_Event(self._last_id, self._position, data, size))
        if not counted:
            return True
        self._bytes += size
        self._counted += 1
        limits = self.app.config.limits
        if self._counted > limits.queue_events or self._bytes > limits.send_queue:
            self.app.metrics.slow_consumers.inc()
            self.close(CloseCode.TOO_SLOW, "too slow: register again with your cursor")
            return False
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(False)


class Queues:
    """The node's queues by id. A closed queue stays until a poll has been told why
    (or it goes idle), so the client learns whether to re-register or to log in."""

    def __init__(self) -> None:
        self._queues: dict[str, EventQueue] = {}

    def add(self, queue: EventQueue) -> None:
        self._queues[queue.id] = queue

    def get(self, queue_id: str, user_id: str) -> EventQueue:
        """The user's queue, or :class:`QueueGone` (another user's queue is unknown)."""
        queue = self._queues.get(queue_id)
        session = queue.session if queue is not None else None
        if queue is None or session is None or session.user.id != user_id:
            raise QueueGone("unknown")
        if queue.closed is not None:
            self.remove(queue)
            raise QueueGone(queue.closed)
        return queue

    def remove(self, queue: EventQueue) -> None:
        if self._queues.get(queue.id) is queue:
            del self._queues[queue.id]
        queue.forget()

    def __len__(self) -> int:
        return len(self._queues)


def poll_timeout(asked: str | None, default: float) -> float:
    """The poll's wait in seconds: ``asked`` if given, capped at :data:`MAX_POLL`."""
    if asked is None:
        return min(default, MAX_POLL)
    try:
        value = float(asked)
    except ValueError:
        raise InvalidInput(f"timeout={asked[:20]!r} is not a number of seconds") from None
    if not value >= 0:
        raise InvalidInput("timeout must be zero or more seconds")
    return min(value, MAX_POLL)


def registration(queue: EventQueue, session: Session, infos: list[dict[str, Any]]) -> Any:
    """The answer to ``POST /api/queues``."""
    user = session.user
    return {
        "queue": queue.id,
        "session": session.id,
        "cursor": queue.cursor(),
        "last_event_id": 0,
        "expires_in": queue.app.config.limits.queue_idle,
        "max_timeout": MAX_POLL,
        "user": {"id": user.id, "name": user.name},
        "rooms": infos,
        "expires_at": session.expires_at,
    }
