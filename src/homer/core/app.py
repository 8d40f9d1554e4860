"""The application object: what an application builds on.

::

    app = Homer(load_config())

    class Roll(msgspec.Struct):
        sides: int = 6

    @app.on("roll", requires="room.post")
    async def roll(ctx: Context, params: Roll) -> dict:
        return {"value": random.randint(1, params.sides)}

Handlers are looked up by op name for every request, so they can be added
and removed while the server runs; Homer's own operations are registered the
same way (:mod:`homer.core.ops`). Parameters are validated against the
handler's annotated ``msgspec.Struct`` before it runs; the permission named
by ``requires`` is checked first.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from homer.blob.factory import open_blob
from homer.blob.ports import Blob
from homer.broker.factory import open_broker
from homer.broker.ports import Broker
from homer.clock import Clock, system_clock
from homer.config import HomerConfig
from homer.core import file_ops, ops, rich_ops
from homer.core.limits import KeyedBuckets, LoginLimits
from homer.core.metrics import Metrics
from homer.core.pipeline import (
    Call,
    Context,
    Handler,
    HandlerFunc,
    Pipeline,
    error_details,
    params_type,
)
from homer.core.session import CloseCode, Peer
from homer.errors import (
    ErrorCode,
    HomerError,
)
from homer.identity.passwords import Argon2Params
from homer.identity.schema import UserSchema
from homer.identity.service import Identity
from homer.messaging.changes import ChangeService
from homer.messaging.events import Events
from homer.messaging.files import FileService
from homer.messaging.hub import Hub
from homer.messaging.messages import AfterSend, BeforeSend, MessageService
from homer.messaging.names import Names
from homer.messaging.presence import Presence
from homer.messaging.rooms import RoomService
from homer.messaging.writer import MessageWriter
from homer.protocol.codecs import Codec, CodecRegistry, JSONCodec, MessagePackCodec
from homer.protocol.envelope import (
    BadRequest,
    Envelope,
    RequestId,
    error_envelope,
    parse_request,
    reply_envelope,
    request_id,
)
from homer.protocol.framing import FRAMINGS, Framing, FramingRegistry
from homer.protocol.lifecycle import Timeouts
from homer.store.ports import Store
from homer.store.records import MessageRecord

__all__ = ["Context", "Handler", "Homer", "HttpRoute"]

log = logging.getLogger("homer.server")


@dataclass(frozen=True, slots=True)
class HttpRoute:
    method: str
    path: str
    func: Callable[..., Awaitable[Any]]


class Homer:
    """A Homer node: identity, messaging services, the op router and the hub."""

    def __init__(
        self,
        config: HomerConfig | None = None,
        *,
        store: Store | None = None,
        broker: Broker | None = None,
        blob: Blob | None = None,
        schema: UserSchema | None = None,
        permissions: Iterable[str] | Mapping[str, str] = (),
        password_params: Argon2Params | None = None,
        clock: Clock = system_clock,
        sweep_period: float | None = 1.0,
    ) -> None:
        self.config = config or HomerConfig()
        self.clock = clock
        #: Seconds between :meth:`sweep` steps; ``None``: no sweeper (a test sweeps itself,
        #: which also ends the rounds of presence: they then wait for it).
        self.sweep_period = sweep_period
        self.handlers: dict[str, Handler] = {}
        self.routes: dict[tuple[str, str], HttpRoute] = {}
        #: What connections may speak, by name; each transport negotiates one.
        self.codecs = CodecRegistry((JSONCodec(), MessagePackCodec()))
        #: How raw TCP connections may cut their stream into frames, by name.
        self.framings = FramingRegistry(FRAMINGS.values())
        self._store = store
        self._schema = schema
        self._permissions = permissions
        self._password_params = password_params
        self.broker: Broker = broker or open_broker(self.config)
        #: Where shared files' bytes go; opened and closed with the node.
        self.blob: Blob = blob or open_blob(self.config)
        self.metrics = Metrics()
        # Read at each scrape: what the connection is, on a node that only listens too.
        self.metrics.broker_connected.set_function(lambda: float(self.broker.connected))
        self.hub: Hub[Peer] = Hub(
            on_first=self._first_local, on_last=self.broker.unbind, on_gap=self._gap_noticed
        )
        self.peers: set[Peer] = set()
        #: Broker keys of a listener's own traffic (MQTT's free topics: ``mqtt``) ->
        #: what takes their events on this node; the listener binds its keys.
        self.key_listeners: dict[str, Callable[[str, Envelope], None]] = {}
        #: The timeouts of every connection's lifecycle, checked by :meth:`sweep`.
        self.timeouts = Timeouts.of(self.config.limits)
        #: Open connections per client address, for ``limits.max_connections_per_address``.
        self._per_address: dict[str, int] = {}
        #: Requests that arrived while the connection's ``hello`` ran, in order.
        self._opening: dict[Peer, list[Any]] = {}
        self._before_send: list[BeforeSend] = []
        self._after_send: list[AfterSend] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._sweeps = 0
        self._started = False
        limits = self.config.limits
        self.user_buckets = KeyedBuckets(limits.user_rate, limits.user_burst)
        #: Password attempts (docs/decisions/0022-login-throttling.md).
        self.logins = LoginLimits(
            per_pair=limits.logins_per_account,
            per_address=limits.logins_per_address,
            per_account=limits.logins_per_account_total,
        )
        #: Sign-ups per client address.
        self.registrations = KeyedBuckets(
            limits.registrations_per_address / 60.0, limits.registration_burst
        )
        self.pipeline = Pipeline(self)
        ops.register(self)
        rich_ops.register(self)
        file_ops.register(self)

    # -- extending ----------------------------------------------------------------

    def on(
        self, op: str, *, requires: str | None = None, auth: bool = True
    ) -> Callable[[HandlerFunc], HandlerFunc]:
        """Register ``func(ctx, params)`` for requests with this ``op``."""

        def decorate(func: HandlerFunc) -> HandlerFunc:
            self.add_handler(op, func, requires=requires, auth=auth)
            return func

        return decorate

    def add_handler(
        self, op: str, func: HandlerFunc, *, requires: str | None = None, auth: bool = True
    ) -> None:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"handler for {op!r} must be an async function")
        if not op or not isinstance(op, str):
            raise ValueError("an op is a non-empty string")
        if requires is not None and not auth:
            raise ValueError(f"{op!r}: a permission needs an authenticated session (auth=True)")
        if requires is not None and self._started:
            self.identity.authorizer.permissions.check([requires])
        self.handlers[op] = Handler(
            op=op, func=func, params=params_type(func), requires=requires, auth=auth
        )

    def remove_handler(self, op: str) -> None:
        self.handlers.pop(op, None)

    def add_codec(self, codec: Codec) -> None:
        """Offer ``codec`` to clients (over WebSocket as subprotocol ``homer.<name>``).

        Replaces a codec of the same name, a built-in one included; connections
        already open keep the codec they negotiated.
        """
        self.codecs.add(codec)

    def add_framing(self, framing: type[Framing]) -> None:
        """Offer the framing class ``framing`` to raw TCP clients (``homer/1 <codec> <name>``).

        Replaces a framing of the same name, a built-in one included; connections
        already open keep the framing they asked for.
        """
        self.framings.add(framing)

    def before_send(self, hook: BeforeSend) -> BeforeSend:
        """Run ``hook(draft)`` before a message is stored; it may change or refuse it."""
        self._before_send.append(hook)
        return hook

    def after_send(self, hook: AfterSend) -> AfterSend:
        """Run ``hook(user, message)`` once a message is stored."""
        self._after_send.append(hook)
        return hook

    def route(
        self, method: str, path: str
    ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
        """Register an HTTP handler ``func(request) -> aiohttp.web.Response``."""

        def decorate(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            self.routes[(method.upper(), path)] = HttpRoute(method.upper(), path, func)
            return func

        return decorate

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self.identity = await Identity.open(
            self.config,
            store=self._store,
            schema=self._schema,
            permissions=self._permissions,
            password_params=self._password_params,
            clock=self.clock,
        )
        self.identity.events.listen(self.metrics.security_event)
        store = self.identity.store
        self.store = store
        self.events = Events(self.broker, self.deliver, failed=self._publish_failed)
        self.names = Names(store)
        limits = self.config.limits
        self.writer = MessageWriter(
            store, self._committed, observe=self.metrics.store_seconds.observe
        )
        self.rooms = RoomService(
            store,
            self.writer,
            self.events,
            self.identity.authorizer,
            self.names,
            max_rooms_per_user=limits.max_rooms_per_user,
            clock=self.clock,
        )
        self.messages = MessageService(
            store,
            self.writer,
            self.rooms,
            self.identity.authorizer,
            self.names,
            self.events,
            limits=limits,
            clock=self.clock,
        )
        self.changes = ChangeService(self.messages, self.config.messages, clock=self.clock)
        self.messages.before_send = self._before_send
        self.messages.after_send = self._after_send
        self.files = FileService(
            store, self.blob, self.identity.authorizer, self.config.files, clock=self.clock
        )
        self.messages.files = self.files  # files in messages; a redaction forgets them
        self.presence = Presence(
            self.events,
            self._rooms_of,
            delay=limits.presence_delay,
            batch=self.hub.batched,
            clock=self.clock,
            # Without a sweeper, a test moves the clock and sweeps: rounds end then.
            timer=self.sweep_period is not None,
        )
        # What opened is closed again if a later step fails: a node that could not
        # start holds no store connection, file or broker channel.
        try:
            # A handler guarded by an undeclared permission is a typo: refuse to start.
            self.identity.authorizer.permissions.check(
                [h.requires for h in self.handlers.values() if h.requires is not None]
            )
            await self.blob.open()
            try:
                await self.broker.start(
                    self.deliver if self.broker.instant else self._from_broker,
                    on_resync=self._broker_back,
                )
            except BaseException:
                await self.blob.close()
                raise
        except BaseException:
            await self.identity.close()
            raise
        if self.sweep_period is not None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(self.sweep_period))
        self._started = True

    async def stop(self) -> None:
        """Finish durable writes, say goodbye to every session, close the store."""
        if not self._started:
            return
        self._started = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.writer.drain()
        for peer in list(self.peers):
            peer.close(CloseCode.GOING_AWAY, "server shutting down: reconnect and resume")
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.config.server.shutdown_grace)
        await self.writer.drain()
        await self.presence.flush()
        await self.events.close(within=self.config.server.shutdown_grace)
        await self.broker.stop()
        await self.blob.close()
        await self.identity.close()

    @property
    def serving(self) -> bool:
        """Started and not stopping: what a transport asks before it acts on a
        connection's end (a will is not published by a node shutting down)."""
        return self._started

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- connections ----------------------------------------------------------------

    def connected(self, peer: Peer) -> None:
        self.peers.add(peer)
        self.metrics.connections.inc()
        log.debug("connection opened", extra={"conn": id(peer), "address": peer.address})
        if not self.hold_address(peer.address):
            # One address holding thousands of idle sockets is an attack or a bug.
            peer.close(CloseCode.TOO_MANY, "too many connections from this address")

    def hold_address(self, address: str) -> bool:
        """Count one more connection from ``address``: ``False`` when that is more
        than ``limits.max_connections_per_address``. Either way, it is counted
        until :meth:`release_address`."""
        count = self._per_address[address] = self._per_address.get(address, 0) + 1
        cap = self.config.limits.max_connections_per_address
        return not (cap and count > cap)

    def release_address(self, address: str) -> None:
        left = self._per_address.get(address, 1) - 1
        if left > 0:
            self._per_address[address] = left
        else:
            self._per_address.pop(address, None)

    def connections_from(self, address: str) -> int:
        """Open connections (and streams, and queues, and unfinished handshakes)
        from one client address."""
        return self._per_address.get(address, 0)

    def disconnected(self, peer: Peer) -> None:
        if peer not in self.peers:
            return
        self.peers.discard(peer)
        self._opening.pop(peer, None)
        self.metrics.connections.dec()
        self.release_address(peer.address)
        session = peer.session
        log.debug(
            "connection closed",
            extra={"conn": id(peer), "user": session.user.name if session else None},
        )
        if session is not None:
            self.release(peer)
            self.presence.disconnected(
                session.user.id, session.user.name, session.rooms, away=session.away
            )

    def release(self, peer: Peer) -> None:
        """Take a peer's session out of the hub."""
        session = peer.session
        if session is None:
            return
        for room in list(session.rooms):
            self.hub.unsubscribe(room, peer)
        self.hub.detach_user(session.user.id, peer)

    def receive(self, peer: Peer, document: Any) -> None:
        """A decoded frame from ``peer``: handle it without blocking the transport.

        Requests of one connection run concurrently, except around the request
        that opens its session (``hello``, or any op registered with
        ``auth=False`` while there is no session yet): what arrives while it runs
        waits, in order, and runs once it has answered. So a client may send
        ``hello`` and its next requests at once.
        """
        self.metrics.requests.inc()
        backlog = self._opening.get(peer)
        if backlog is None:
            self._dispatch(peer, document)
        elif len(backlog) < self.config.limits.burst:
            backlog.append(document)
        else:
            self._error(
                peer,
                request_id(document),
                ErrorCode.RATE_LIMITED,
                f"at most {self.config.limits.burst} requests may wait for hello",
                retry_after=1.0,
            )

    def _dispatch(self, peer: Peer, document: Any) -> None:
        try:
            request = parse_request(document)
        except BadRequest as exc:
            self._error(peer, exc.rid, ErrorCode.INVALID, exc.message)
            return
        handler = self.handlers.get(request.op)
        if handler is None:
            self._error(peer, request.rid, ErrorCode.UNKNOWN_OP, f"unknown op {request.op!r}")
            return
        session = peer.session
        call = Call(handler, Context(self, peer, request.rid, session), request.params)
        if session is None and not handler.auth:
            self._opening[peer] = []
            self.spawn(self._open(call))
        else:
            self.spawn(self._run(call))

    async def _open(self, call: Call) -> None:
        """Run a request that may open the session, then what waited for it."""
        peer = call.ctx.peer
        try:
            await self._run(call)
        finally:
            backlog = self._opening.pop(peer, None)
            for document in backlog or ():
                if peer not in self.peers:
                    break
                if peer in self._opening:  # another opening request: the rest wait for it
                    self._opening[peer].append(document)
                else:
                    self._dispatch(peer, document)

    async def call(self, handler: Handler, ctx: Context, params: Mapping[str, Any] | None) -> Any:
        """Run ``handler`` for ``ctx``: its permission, its parameters, the call.

        The inner part of the request pipeline (:mod:`homer.core.pipeline`), for an
        operation run on behalf of a request already authenticated and counted;
        raises :class:`~homer.errors.HomerError`.
        """
        return await self.pipeline.call(Call(handler, ctx, params))

    async def _run(self, call: Call) -> None:
        """A request from a connection through the whole pipeline; its answer back."""
        peer, rid = call.ctx.peer, call.ctx.rid
        try:
            result = await self.pipeline.run(call)
        except HomerError as exc:
            self._error(peer, rid, exc.code, exc.message, **error_details(exc))
            return
        try:
            peer.send(reply_envelope(rid, result))
        except Exception:
            log.exception(
                "reply failed", extra={"op": call.target.name, "rid": rid, "conn": id(peer)}
            )
            self._error(peer, rid, ErrorCode.INTERNAL, "internal error")

    def _error(
        self, peer: Peer, rid: RequestId | None, code: str, message: str, **extra: Any
    ) -> None:
        self.metrics.errors.labels(code=str(code)).inc()
        peer.send(error_envelope(rid, str(code), message, **extra))

    # -- live events ------------------------------------------------------------------

    def deliver(self, key: str, envelope: Envelope) -> None:
        """An event from the broker for one of this node's keys."""
        kind, _, ident = key.partition(".")
        if kind == "room":
            sinks = self.hub.rooms.get(ident)
            if sinks:
                started = self.metrics.timer()
                self.hub.to_room(ident, envelope)
                self.metrics.delivered(len(sinks), started)
        elif kind == "user":
            self._user_event(ident, envelope)
        elif kind == "all":
            self.hub.to_sinks(self.hub.everyone(), envelope)
        else:
            listener = self.key_listeners.get(kind)
            if listener is not None:
                listener(ident, envelope)

    def _from_broker(self, key: str, envelope: Envelope) -> None:
        """An event another node published (or this one, through the broker): what
        arrives in one turn of the event loop, say a commit batch of another node,
        reaches each local connection in one write at the end of the turn, as this
        node's own batches do."""
        hub = self.hub
        if not hub.batching:
            hub.begin_batch()
            asyncio.get_running_loop().call_soon(hub.end_batch)
        self.deliver(key, envelope)

    def _user_event(self, user_id: str, envelope: Envelope) -> None:
        sinks = self.hub.users.get(user_id)
        if not sinks:
            return
        room = envelope.room
        if envelope.op == "joined" and room is not None:
            for peer in sinks:
                # The joiner's reply, and the join event just after, go out with this.
                peer.cork()
                session = peer.session
                if session is not None and room not in session.rooms:
                    session.add_room(room)
                    self.hub.subscribe(room, peer)
            body = envelope.body
            if isinstance(body, dict) and isinstance(body.get("last_seq"), int):
                self.hub.seed(room, body["last_seq"])
        elif envelope.op == "left" and room is not None:
            for peer in sinks:
                session = peer.session
                if session is not None:
                    session.drop_room(room)
                    self.hub.unsubscribe(room, peer)
        self.hub.to_user(user_id, envelope)

    # -- several nodes: gaps, outages ---------------------------------------------

    def _gap_noticed(self, room: str) -> None:
        """A room event arrived ahead of a missing one: give the missing one a moment
        to arrive from the broker, then read it from the store."""
        asyncio.get_running_loop().call_later(
            self.config.limits.reorder_wait, self._gap_overdue, room
        )

    def _gap_overdue(self, room: str) -> None:
        if self._started and self.hub.gap(room) is not None:
            self.spawn(self._fill_gap(room))

    async def _fill_gap(self, room: str) -> None:
        while (gap := self.hub.gap(room)) is not None:
            last, first = gap
            limit = min(first - last - 1, self.config.limits.history_limit)
            records = await self.store.messages_after(room, last, limit=limit)
            missing = [r for r in records if r.seq < first]
            if self.hub.gap(room) != gap:
                continue  # the broker brought some meanwhile: look again
            if not missing:  # purged: nothing to wait for
                self.hub.skip_gap(room)
                return
            await self._deliver_stored(room, missing)

    async def _deliver_stored(self, room: str, records: list[MessageRecord]) -> None:
        """Room events read from the store because the broker did not bring them: into
        the hub like live ones (in order, duplicates dropped), one write per member."""
        self.metrics.gaps_filled.inc(len(records))
        # One encoding for every member: nobody's own reactions are marked (the change
        # events that follow carry absolute counts, which clients apply by target).
        envelopes = await self.messages.render(records, "")
        with self.hub.batched():
            for envelope in envelopes:
                self.hub.to_room(room, envelope)

    def _publish_failed(self, count: int) -> None:
        self.metrics.publish_failures.inc(count)

    def _broker_back(self) -> None:
        """The broker reconnected and this node's bindings are back: what was published
        meanwhile may be lost, so publish what waited and catch every followed room up
        from the store."""
        self.metrics.broker_resyncs.inc()
        log.warning("broker connection restored: catching up %d rooms", len(self.hub.rooms))
        self.spawn(self._catch_up())

    async def _catch_up(self) -> None:
        await self.events.republish()
        for room in list(self.hub.rooms):
            await self._catch_up_room(room)

    async def _catch_up_room(self, room: str) -> None:
        """Deliver what the store holds past the last event delivered here."""
        limit = self.config.limits.history_limit
        last = self.hub.last_seq.get(room)
        while last is not None:
            records = await self.store.messages_after(room, last, limit=limit)
            if not records:
                return
            await self._deliver_stored(room, records)
            now = self.hub.last_seq.get(room)
            if len(records) < limit or now is None or now <= last:
                return  # done, or a gap the store cannot fill: _fill_gap settles it
            last = now

    def _first_local(self, key: str) -> None:
        """A first local session needs ``key``. On a broker where a binding takes a
        moment to apply, a room's events published meanwhile passed this node by:
        once it applies, read them from the store."""
        self.broker.bind(key)
        if not self.broker.instant and self._started and key.startswith("room."):
            self.spawn(self._after_bind(key.removeprefix("room.")))

    async def _after_bind(self, room: str) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self.broker.settled()
        await self._catch_up_room(room)

    def _rooms_of(self, user_id: str) -> set[str]:
        rooms: set[str] = set()
        for peer in self.hub.users.get(user_id, ()):
            session = peer.session
            if session is not None:
                rooms |= session.rooms
        return rooms

    async def _committed(self, appended: list[Any]) -> None:
        # Each sender's echo waits on its connections for the ack that follows it
        # (the next turn of the loop): one write for the two.
        users = self.hub.users
        for stored in appended:
            for peer in users.get(stored.message.sender_id, ()):
                peer.cork()
        if len(appended) == 1:
            await self.messages.publish(appended)
            return
        with self.hub.batched():
            await self.messages.publish(appended)

    # -- housekeeping -------------------------------------------------------------------

    async def _sweep(self, period: float) -> None:
        """Every ``period`` seconds, one :meth:`sweep` step; a step that fails is
        logged, and the next one runs (heartbeats and expiry must not stop)."""
        while True:
            await asyncio.sleep(period)
            try:
                await self.sweep()
            except Exception:
                log.exception("a sweep of the connections failed")

    async def sweep(self) -> None:
        """Ask every connection's lifecycle what is due at the clock's now: heartbeats,
        the handshake timeout, token expiry; every fifth step, reload revocations and
        groups first (changed by another process: the admin CLI, another node) and
        close the sessions whose token was revoked. A round of presence that is due
        is announced too (without a sweeper, that is the only way it ends)."""
        self._sweeps += 1
        recheck = self._sweeps % 5 == 0
        now = self.clock()
        if recheck:
            try:
                await self.identity.tokens.load_revocations()
                await self.identity.groups.reload()
            except HomerError as exc:
                log.warning("could not reload revocations and groups: %s", exc.message)
        revoked = self.identity.tokens.revoked
        for peer in list(self.peers):
            due = peer.lifecycle.tick(now)
            if due.ping:
                peer.ping()
            if due.close is not None:
                peer.close(due.close.code, due.close.reason)
                continue
            session = peer.session
            if not recheck or session is None:
                continue
            if revoked(session.user.id, session.jti, session.issued_at):
                peer.close(CloseCode.UNAUTHENTICATED, "token revoked")
        # Last: a failure to announce must not cost the connections their heartbeats.
        await self.presence.tick(now)
