"""The RabbitMQ adapter of the Broker port, for several nodes sharing live traffic.

Topology (docs/decisions/0007-rabbitmq-topology.md): one durable topic exchange,
``homer`` by default, that every node publishes each event to under its routing
key; and one queue per node, server-named, exclusive and auto-deleted, so that
it lives exactly as long as the node's connection. The queue is bound to the
keys the node's sessions need and to ``all``, nothing else: RabbitMQ does the
filtering, and a node receives only what it delivers. :meth:`RabbitMQBroker.bind`
and :meth:`RabbitMQBroker.unbind` return at once; one background task applies
them in order.

Delivery semantics:

- **At most once per node.** The queue dies with the connection, so what is
  published while a node is cut off is lost for that node. The store is the
  source of truth: once the connection and every binding are back, the adapter
  calls ``on_resync`` and the node reads what it missed from the store.
- **In order per publisher per key.** Each node publishes on one channel and
  consumes its one queue with one consumer. Across publishers there is no
  order; the node orders a room by sequence number.
- **Duplicates are possible after a reconnection**: an event can arrive live
  and in the catch-up read from the store. The node drops what it has already
  delivered, by sequence number.

Publishing waits for the publisher confirm, so ``publish`` returns once
RabbitMQ has routed the event (to every bound queue, or to none). It raises
:class:`~homer.errors.BrokerError` at once while disconnected, and after
``publish_timeout`` when a confirm does not come, never waiting for a
reconnection: the event is stored already, and a node keeps accepting messages
while RabbitMQ is away. A publish that fails marks the link lost, whatever TCP
says (a broker can hang with its connections up): the adapter sets up a new one
and calls ``on_resync``, as after any loss.

Consuming is without acknowledgements (``no_ack``), for throughput. An ack
would protect nothing: a message not yet acknowledged dies with the exclusive
queue when the connection goes, like one that was. A prefetch limit applies
only to unacknowledged deliveries, so there is none; ``deliver`` is synchronous
and only queues bytes for sessions, so a node keeps up with its socket, and
when it cannot, the queue is capped at ``queue_limit`` messages, the oldest
dropped first: a dropped room event shows as a sequence gap, which the node
fills from the store.

A message carries one envelope, or several for one key (``publish_many``: what
a commit batch holds for one room) as a MessagePack array of them, with the
content type ``application/vnd.homer.envelopes+msgpack``; each confirmed
publish costs a few hundred microseconds of CPU in aiormq, so a batch of fifty
messages to one room pays it once. Every node of a cluster must read arrays
(any release since they appeared): upgrade all nodes before the first one
publishes them.

The per-message paths use aio-pika's underlying aiormq channels: building an
``aio_pika.Message`` costs about 20 µs, and ``Queue.consume`` wraps every
delivery in an ``IncomingMessage`` and a second task. Connecting, declaring
and binding go through aio-pika.

On connection loss the adapter reconnects itself rather than with
``connect_robust``, to know when the queue and its bindings are back before
it calls ``on_resync``: it retries with capped exponential backoff and jitter,
declares the exchange, a new queue and every current binding, then resumes.
``connected`` and ``reconnections`` say where it stands, and the
``homer.broker`` logger says when the connection is lost and when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Any

import aio_pika
import msgspec
from aio_pika.abc import AbstractConnection, AbstractQueue
from aiormq.abc import AbstractChannel as WireChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from yarl import URL

from homer.broker.ports import Deliver, Resync
from homer.errors import BrokerError
from homer.protocol.envelope import Envelope

__all__ = ["RabbitMQBroker", "backoff", "redacted"]

log = logging.getLogger("homer.broker")

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Envelope).decode
_decode_many = msgspec.msgpack.Decoder(list[Envelope]).decode
_CONTENT_TYPE = "application/msgpack"
#: Several envelopes for one key, in order.
_MANY_TYPE = "application/vnd.homer.envelopes+msgpack"
_TRANSIENT = 1  # delivery mode: the queues do not outlive their node, nor do messages


def redacted(url: str | URL) -> str:
    """``url`` without its password, fit for logs and error messages."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else str(parsed)


def backoff(attempt: int, *, first: float, cap: float) -> float:
    """The delay before reconnection attempt ``attempt`` (1, 2, ...).

    Doubling from ``first`` up to ``cap``; the jitter (the delay is drawn from
    the upper half) keeps nodes cut off together from knocking together.
    """
    ceiling = min(cap, first * 2.0 ** min(attempt - 1, 32))
    return ceiling / 2 + random.uniform(0.0, ceiling / 2)


class _Link:
    """One connection and what was set up on it; replaced whole after a loss."""

    __slots__ = ("alive", "bound", "connection", "publisher", "queue", "reason")

    def __init__(self, connection: AbstractConnection) -> None:
        self.connection = connection
        self.alive = True
        self.reason: BaseException | None = None
        #: The keys this link's queue is bound to on the server.
        self.bound: set[str] = set()
        self.queue: AbstractQueue | None = None
        self.publisher: WireChannel | None = None

    def up(self) -> bool:
        """Whether the link still works (a method: the answer changes across awaits)."""
        return self.alive


class RabbitMQBroker:
    """A node's link to a RabbitMQ topic exchange shared by every node.

    ``url`` is an AMQP URL (``amqp://user:password@host:5672/vhost``); a
    ``heartbeat`` or ``name`` in its query wins over the keyword. ``name`` labels
    the connection in RabbitMQ's tools; ``heartbeat`` (seconds) bounds how long a
    silently dead connection goes unnoticed.
    """

    #: A binding takes a round trip to apply and an outage loses events: the node
    #: catches rooms up from the store after both.
    instant = False

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "homer",
        name: str = "homer",
        heartbeat: int = 10,
        connect_timeout: float = 5.0,
        publish_timeout: float = 5.0,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 15.0,
        queue_limit: int | None = 100_000,
    ) -> None:
        self._display = redacted(url)
        target = URL(url)
        # aiormq reads both from the query; the operator's own values win.
        query = {"heartbeat": str(heartbeat), "name": name}
        query.update(target.query)
        self._url = target.with_query(query)
        self.exchange = exchange
        self.name = name
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._queue_arguments: dict[str, Any] = (
            {} if queue_limit is None else {"x-max-length": queue_limit, "x-overflow": "drop-head"}
        )
        self._deliver: Deliver | None = None
        self._on_resync: Resync | None = None
        self._link: _Link | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: The keys the node wants, whatever the server has now.
        self._wanted: set[str] = set()
        #: Bind (True) and unbind (False) calls not yet applied, in call order. Only
        #: kept while a link can apply them: a new link binds ``_wanted`` instead.
        self._ops: deque[tuple[str, bool]] = deque()
        self._queueing = False
        self._requested = 0
        self._applied = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._reconnections = 0

    # -- for operators ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL as given, without its password."""
        return self._display

    @property
    def connected(self) -> bool:
        """Whether events flow now: connected, queue declared, bindings restored."""
        link = self._link
        return link is not None and link.alive

    @property
    def reconnections(self) -> int:
        """How many times the connection was lost and set up again since start."""
        return self._reconnections

    # -- the port -------------------------------------------------------------------

    async def start(self, deliver: Deliver, on_resync: Resync | None = None) -> None:
        """Connect, declare the exchange and this node's queue, bind ``all``.

        Raises :class:`BrokerError` if RabbitMQ cannot be reached now: a wrong URL
        or password shows at start-up rather than as a node silently alone.
        """
        if self._worker is not None:
            raise RuntimeError("the broker is already started")
        self._deliver = deliver
        self._on_resync = on_resync
        self.bind("all")
        try:
            await self._connect()
        except Exception as exc:
            self._deliver = None
            if isinstance(exc, TimeoutError):  # says nothing itself: say who did not answer
                port = self._url.port or (5671 if self._url.scheme == "amqps" else 5672)
                host = f"{self._url.host}:{port}"
                reason = f"{host} did not answer within {self._connect_timeout:g} s"
            else:
                reason = repr(exc)
            raise BrokerError(f"cannot set up RabbitMQ at {self.url}: {reason}") from exc
        self._worker = asyncio.get_running_loop().create_task(
            self._run(), name=f"homer.broker {self.name}"
        )
        log.info("connected to RabbitMQ at %s, exchange %r", self.url, self.exchange)

    async def stop(self) -> None:
        self._deliver = None
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            # A binding call in flight holds the cancellation up until aiormq answers
            # it (at worst its own timeout): wait a little, never for that.
            await asyncio.wait({worker}, timeout=0.5)
        await self._disconnect()
        waiters, self._waiters = self._waiters, []
        for _, waiter in waiters:
            if not waiter.done():
                waiter.set_exception(BrokerError("the broker stopped"))

    async def publish(self, key: str, envelope: Envelope) -> None:
        await self._publish(key, _encode(envelope), _CONTENT_TYPE)

    async def publish_many(self, key: str, envelopes: Sequence[Envelope]) -> None:
        if len(envelopes) == 1:
            await self._publish(key, _encode(envelopes[0]), _CONTENT_TYPE)
        elif envelopes:
            await self._publish(key, _encode(list(envelopes)), _MANY_TYPE)

    async def _publish(self, key: str, body: bytes, content_type: str) -> None:
        link = self._link
        if link is None or not link.alive or link.publisher is None:
            if self._worker is None:
                raise BrokerError("the broker is not started")
            raise BrokerError("RabbitMQ is unreachable; live delivery resumes when it is back")
        properties = Basic.Properties(content_type=content_type, delivery_mode=_TRANSIENT)
        try:
            # One deadline for the whole call: aiormq's own timeout wraps each of its
            # steps in a task of its own, which costs more than the publish.
            async with asyncio.timeout(self._publish_timeout):
                await link.publisher.basic_publish(
                    body,
                    exchange=self.exchange,
                    routing_key=key,
                    properties=properties,
                )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # The channel went away under the publish: that is RabbitMQ's failure.
            self._dropped(link, None, BrokerError("a publish was cut short"))
            raise BrokerError(f"RabbitMQ dropped the event for {key!r}") from None
        except Exception as exc:
            # No confirm in time (a broker that hangs with the connection up), or a
            # broken channel: the link is down whatever TCP says. Set a new one up and
            # resync, rather than let every publish wait out its deadline.
            self._dropped(link, None, exc)
            raise BrokerError(f"RabbitMQ did not take the event for {key!r}: {exc!r}") from exc

    def bind(self, key: str) -> None:
        self._wanted.add(key)
        self._request(key, True)

    def unbind(self, key: str) -> None:
        self._wanted.discard(key)
        self._request(key, False)

    async def settled(self) -> None:
        target = self._requested
        if self._applied >= target:
            return
        if self._deliver is None:
            raise BrokerError("the broker is not started")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        await waiter

    # -- bindings -------------------------------------------------------------------

    def _request(self, key: str, bind: bool) -> None:
        self._requested += 1
        if self._queueing:
            self._ops.append((key, bind))
            self._wake.set()

    def _settle(self, applied: int) -> None:
        self._applied = max(self._applied, applied)
        if not self._waiters:
            return
        waiting = []
        for target, waiter in self._waiters:
            if target > self._applied:
                waiting.append((target, waiter))
            elif not waiter.done():
                waiter.set_result(None)
        self._waiters = waiting

    async def _apply(self, link: _Link) -> None:
        """Apply bind and unbind calls in order, until ``link`` is lost."""
        assert link.queue is not None
        while link.up():
            if not self._ops:
                self._wake.clear()
                await self._wake.wait()
                continue
            key, bind = self._ops[0]
            try:
                if bind and key not in link.bound:
                    await link.queue.bind(self.exchange, key, timeout=self._connect_timeout)
                    link.bound.add(key)
                elif not bind and key in link.bound:
                    await link.queue.unbind(self.exchange, key, timeout=self._connect_timeout)
                    link.bound.discard(key)
            except Exception as exc:
                # The server's state is unknown now: set the whole link up again.
                self._dropped(link, None, exc)
                return
            if not link.up():
                return  # the queue of calls was dropped with the link
            self._ops.popleft()
            self._settle(self._applied + 1)

    # -- the connection ---------------------------------------------------------------

    async def _connect(self) -> None:
        """Set up a link: connection, channels, exchange, queue, every wanted binding."""
        timeout = self._connect_timeout
        connection = await asyncio.wait_for(
            aio_pika.connect(self._url, timeout=timeout),
            timeout,
        )
        link = _Link(connection)
        try:
            connection.close_callbacks.add(partial(self._dropped, link))
            channel = await connection.channel(publisher_confirms=False)
            channel.close_callbacks.add(partial(self._dropped, link))
            publishing = await connection.channel(publisher_confirms=True)
            publishing.close_callbacks.add(partial(self._dropped, link))
            await channel.declare_exchange(
                self.exchange, aio_pika.ExchangeType.TOPIC, durable=True, timeout=timeout
            )
            queue = await channel.declare_queue(
                exclusive=True,
                auto_delete=True,
                arguments=self._queue_arguments,
                timeout=timeout,
            )
            # From here on, calls are queued for this link; those before are in _wanted.
            self._ops.clear()
            self._queueing = True
            target = self._requested
            for key in sorted(self._wanted):
                await queue.bind(self.exchange, key, timeout=timeout)
                link.bound.add(key)
            consumer = await channel.get_underlay_channel()
            await consumer.basic_consume(
                queue.name, self._on_message, no_ack=True, exclusive=True, timeout=timeout
            )
            link.queue = queue
            link.publisher = await publishing.get_underlay_channel()
            if not link.up():
                raise BrokerError(f"the connection closed while being set up: {link.reason!r}")
        except BaseException:
            self._queueing = False
            self._ops.clear()
            link.alive = False
            await self._close(connection)
            raise
        self._link = link
        self._settle(target)

    def _dropped(self, link: _Link, sender: object, exc: BaseException | None = None) -> None:
        """A close callback of the link's connection or channels, or a failed binding."""
        if not link.alive:
            return
        link.alive = False
        link.reason = exc
        if link is self._link:
            self._queueing = False
            self._ops.clear()
            self._wake.set()

    async def _disconnect(self) -> None:
        link, self._link = self._link, None
        self._queueing = False
        self._ops.clear()
        if link is not None:
            link.alive = False
            await self._close(link.connection)

    async def _close(self, connection: AbstractConnection) -> None:
        if connection.is_closed:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), self._connect_timeout)

    async def _run(self) -> None:
        """Apply bindings; when the link is lost, set up a new one and call for a resync."""
        while True:
            link = self._link
            if link is not None:
                await self._apply(link)
                if self._deliver is None:
                    return  # stopping: a cancelled binding call can end _apply like a loss
                reason = link.reason
                log.warning(
                    "lost the connection to RabbitMQ at %s (%s); live delivery stops until "
                    "it is back, messages are still stored",
                    self.url,
                    repr(reason) if reason is not None else "closed",
                )
            await self._disconnect()
            await self._reconnect()
            self._reconnections += 1
            self._resync()

    async def _reconnect(self) -> None:
        lost = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(
                backoff(attempt, first=self._reconnect_delay, cap=self._max_reconnect_delay)
            )
            try:
                await self._connect()
            except Exception as exc:
                log.info(
                    "RabbitMQ at %s is still unreachable after %d attempts: %r",
                    self.url,
                    attempt,
                    exc,
                )
                continue
            log.warning(
                "the connection to RabbitMQ at %s is back after %.1f s (%d attempts), "
                "%d bindings restored",
                self.url,
                time.monotonic() - lost,
                attempt,
                len(self._link.bound) if self._link is not None else 0,
            )
            return

    def _resync(self) -> None:
        on_resync = self._on_resync
        if on_resync is None:
            return
        try:
            on_resync()
        except Exception:
            log.exception("the resync callback failed")

    # -- consuming ----------------------------------------------------------------------

    async def _on_message(self, message: DeliveredMessage) -> None:
        """Called on the event loop for each delivery, in the order of the queue."""
        deliver = self._deliver
        if deliver is None:
            return
        key = message.routing_key or ""
        try:
            if message.header.properties.content_type == _MANY_TYPE:
                envelopes = _decode_many(message.body)
            else:
                envelopes = [_decode(message.body)]
        except msgspec.DecodeError as exc:
            log.warning("dropped a message for %r that is not an envelope: %s", key, exc)
            return
        for envelope in envelopes:
            try:
                deliver(key, envelope)
            except Exception:
                log.exception("delivering an event for %r failed", key)
