"""MQTT: devices and MQTT clients in Homer's rooms (``homer serve --mqtt-port``).

A thin pump like the IRC peer: packets in (:mod:`homer.protocol.mqtt`), each
one turned into Homer operations run through the one request pipeline, events
out as ``PUBLISH`` packets on the topics of :mod:`homer.transports.mqtt_routes`.
docs/topics/mqtt.md is the specification.

This module is the connection: packets in, in order (the connection has no task
while idle), events out as deliveries at each subscription's QoS with a window
of its own, and the session kept beyond the connection. Connecting is
:mod:`~homer.transports.mqtt_connect`, publishing (acknowledged once stored)
:mod:`~homer.transports.mqtt_inbound`, subscribing
:mod:`~homer.transports.mqtt_subscribe`, what a node's connections share
:mod:`~homer.transports.mqtt_server`. A room message on a QoS 0 subscription
with nothing of the connection's own in it is the same bytes for every such
connection, as on WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from typing import TYPE_CHECKING, Any, Final, cast

from homer.core.session import CloseCode
from homer.errors import HomerError
from homer.messaging.hub import Outgoing
from homer.protocol.envelope import Envelope
from homer.protocol.mqtt import (
    V5,
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    MqttError,
    PacketReader,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Subscribe,
    Unsubscribe,
    UnsupportedVersion,
    encode,
    publish_bytes,
)
from homer.protocol.mqtt_topics import split_shared
from homer.store.records import name_key
from homer.transports.framed import StreamFormat
from homer.transports.mqtt_connect import connect
from homer.transports.mqtt_inbound import Inbound
from homer.transports.mqtt_routes import (
    EVENTS,
    ROOMS,
    USERS,
    Refused,
    Route,
    Sub,
    carried,
    events_payload,
    expired,
    own_properties,
    published_qos,
    routes_for,
    text_of,
    was_retained,
)
from homer.transports.mqtt_server import FreeMessage, MqttServer
from homer.transports.mqtt_store import (
    Flight,
    save_session,
)
from homer.transports.mqtt_subscribe import subscribe, unsubscribe
from homer.transports.native import NativePeer

if TYPE_CHECKING:
    pass

__all__ = ["MqttPeer"]

log = logging.getLogger("homer.mqtt")

#: Packets waiting for their turn past which the connection stops reading.
_QUEUE_HIGH: Final = 500
_QUEUE_LOW: Final = 50
#: What a close of Homer's is on the wire of MQTT 5.
_DISCONNECTS: Final = {
    CloseCode.GOING_AWAY: 0x8B,  # server shutting down
    CloseCode.TOO_SLOW: 0x97,  # quota exceeded
    CloseCode.UNAUTHENTICATED: 0x87,
    CloseCode.TOO_MANY: 0x97,
    CloseCode.INTERNAL: 0x83,
}


class MqttPeer(NativePeer, asyncio.Protocol):
    """One MQTT connection, connected (``CONNACK`` sent) or not."""

    __slots__ = (
        "_disconnect_reason",
        "_handed_over",
        "_held",
        "_paused",
        "_save_timer",
        "_saving",
        "alias_max_out",
        "aliases_out",
        "cid_prefix",
        "client_id",
        "conn_id",
        "connected",
        "dm_rooms",
        "dms",
        "epochs",
        "expiry",
        "fast",
        "inbound",
        "inflight",
        "key",
        "local_tag",
        "max_out",
        "next_pid",
        "plans",
        "positions",
        "problems",
        "reader",
        "server",
        "subs",
        "version",
        "waiting",
        "will",
        "window",
    )
    corks = True

    def __init__(self, server: MqttServer) -> None:
        app = server.app
        super().__init__(app, "unknown", cast(StreamFormat, server.text_formats[4]))
        self.server = server
        self.reader = PacketReader(server.config.max_packet_size)
        self.version = 4
        self.client_id = ""
        #: The session's key in the store (``None`` until connected).
        self.key: str | None = None
        #: This connection among every node's: a takeover names the one it keeps.
        self.conn_id = secrets.token_hex(8)
        #: Seconds the session outlives the connection (0: it ends with it).
        self.expiry = 0
        self.connected = False
        self.subs: dict[str, Sub] = {}
        #: Room -> its routes to this connection (computed on first use).
        self.plans: dict[str, tuple[Route, ...]] = {}
        #: Rooms whose one route is a plain text one: the shared bytes (:meth:`push`).
        self.fast: set[str] = set()
        #: DM room -> the other user's name, and back (by name key).
        self.dms: dict[str, str] = {}
        self.dm_rooms: dict[str, str] = {}
        #: Room -> its epoch (from the welcome and ``joined``), for positions.
        self.epochs: dict[str, int] = {}
        #: Room -> the last seq handed to the client (a persistent session's place).
        self.positions: dict[str, int] = {}
        #: Packet id -> a QoS 1 or 2 delivery waiting for its acknowledgement.
        self.inflight: dict[int, Flight] = {}
        #: Deliveries waiting for room in the window, in order.
        self.waiting: deque[Flight] = deque()
        #: How many QoS 1 and 2 deliveries may be in flight at once.
        self.window = server.config.max_inflight
        self.next_pid = 0
        self.aliases_out: dict[str, int] = {}
        self.alias_max_out = 0
        #: The largest packet the client takes (MQTT 5), 0: no limit.
        self.max_out = 0
        self.will: Any = None
        #: What this connection's messages are named by; ``local_tag`` is its client
        #: id's part, which "no local" recognises across reconnections.
        self.local_tag = ""
        self.cid_prefix = ""
        self._held: list[Envelope] | None = []
        self._paused = False
        self._save_timer: asyncio.TimerHandle | None = None
        self._saving: asyncio.Task[None] | None = None
        #: Another connection took the session: this one neither saves nor wills it.
        self._handed_over = False
        self._disconnect_reason: int | None = None
        #: What the client publishes, on its way in.
        self.inbound = Inbound(self)
        #: Reason strings in acknowledgements (MQTT 5's request problem information).
        self.problems = True

    # -- asyncio.Protocol -----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        lifecycle = self.lifecycle
        lifecycle.received(self.app.clock())
        if lifecycle.ended:
            return
        for packet in self.reader.feed(data):
            kind = type(packet)
            if isinstance(packet, MqttError):
                self._broken(packet)
                return
            if kind is PingReq:
                if self.connected:
                    self._write(encode(PingResp(), self.version))
                continue
            if kind is PubAck or kind is PubRec or kind is PubComp:
                self._acked(cast(PubAck | PubRec | PubComp, packet))
                continue
            if kind is Publish and cast(Publish, packet).qos and self.version == V5:
                # MQTT 5's receive maximum: QoS 1 and 2 publishes not yet answered.
                inbound = self.inbound
                inbound.unanswered += 1
                if inbound.unanswered + len(inbound.qos2) > self.server.config.receive_maximum:
                    self.disconnect(0x93, "receive maximum exceeded")
                    return
            self.waiting_items().append(packet)
        queue = self._queue
        if queue:
            if len(queue) > _QUEUE_HIGH and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()
            self.start_work()

    def _broken(self, error: MqttError) -> None:
        """A packet the client should not have sent: say why, where MQTT lets us,
        and close (MQTT has no other answer to a malformed packet)."""
        self.app.metrics.errors.labels(code="invalid").inc()
        log.info(
            "MQTT packet refused: %s", error, extra={"conn": id(self), "address": self.address}
        )
        if not self.connected:
            if isinstance(error, UnsupportedVersion):
                level = 5 if error.version == V5 else 4
                reason = 0x84 if level == V5 else 0x01
                self._write(encode(ConnAck(reason), level))
            elif self.reader.version == V5:
                self._write(encode(ConnAck(error.reason), V5))
            self.close(CloseCode.PROTOCOL_ERROR, str(error))
            return
        self.disconnect(error.reason, str(error))

    def taken(self, left: int) -> None:
        if self._paused and left < _QUEUE_LOW and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    async def handle(self, item: Any) -> None:
        """A packet in its turn; what fails closes the connection, saying why."""
        try:
            await self._run(item)
        except HomerError as exc:
            self.disconnect(0x80, exc.message)
        except Exception:
            log.exception("MQTT packet failed", extra={"conn": id(self)})
            self.disconnect(0x83, "internal error")

    async def _run(self, packet: Any) -> None:
        kind = type(packet)
        if kind is Publish:
            await self.inbound.publish(packet)
        elif kind is PubRel:
            self.inbound.released(packet)
        elif kind is Subscribe:
            await subscribe(self, packet)
        elif kind is Unsubscribe:
            unsubscribe(self, packet)
        elif kind is Connect:
            await connect(self, packet)
        elif kind is Disconnect:
            self._disconnected(packet)
        elif kind is Auth:
            self.disconnect(0x8C, "Homer takes a password or a token in CONNECT; no AUTH")

    # -- connecting -----------------------------------------------------------------

    def know_room(self, info: dict[str, Any]) -> None:
        room = str(info.get("id", ""))
        if isinstance(info.get("epoch"), int):
            self.epochs[room] = info["epoch"]
        if isinstance(info.get("last_seq"), int):
            # Where a persistent session stands in a room it has not been sent
            # anything from yet: what the room held when it came.
            self.positions.setdefault(room, info["last_seq"])
        if info.get("kind") == "dm":
            users = (info.get("meta") or {}).get("users") or []
            me = name_key(self.session.user.name) if self.session is not None else ""
            others = [u for u in users if name_key(u) != me] or users[:1]
            if others:
                self.dms[room] = others[0]
                self.dm_rooms[name_key(others[0])] = room
        self.plans.pop(room, None)
        self.fast.discard(room)

    def release_held(self) -> None:
        held, self._held = self._held, None
        for envelope in held or ():
            self.send(envelope)

    # -- the session beyond the connection ---------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What a persistent session keeps between connections."""
        positions = {
            room: [self.epochs.get(room, 1), seq]
            for room, seq in self.positions.items()
            if self.plans.get(room) or self._plan(room)  # rooms its subscriptions reach
        }
        return {
            "client": self.client_id,
            "subs": [sub.to_json() for sub in self.subs.values()],
            "positions": positions,
            "inflight": [flight.to_json() for flight in self.inflight.values()],
            "qos2_in": sorted(self.inbound.qos2),
        }

    def hand_over(self) -> dict[str, Any]:
        """Another connection takes this session (same account, same client id):
        it gets the state as it is now; this one closes without saving or a will."""
        state = self.snapshot()
        self._handed_over = True
        self.will = None
        self.disconnect(0x8E, "another connection took over this session")
        return state

    def schedule_save(self) -> None:
        if self._save_timer is None and not self.lifecycle.ended:
            self._save_timer = asyncio.get_running_loop().call_later(
                self.server.config.save_interval, self._save_due
            )

    def _save_due(self) -> None:
        self._save_timer = None
        self.save()
        self.schedule_save()

    def save(self) -> None:
        """Keep the session's place now (one write at a time; the last one wins)."""
        key = self.key
        if key is None or not self.expiry or self._handed_over:
            return
        saving = self._saving
        if saving is not None and not saving.done():
            saving.add_done_callback(lambda _: self.save())
            return
        task = self._saving = asyncio.ensure_future(
            save_session(self.app, key, self.snapshot(), self.expiry)
        )
        self.app.spawn(task)

    # -- writing --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Bytes for this connection (an acknowledgement, an answer)."""
        self._write(data)

    def disconnect(self, reason: int, text: str) -> None:
        """Close with an MQTT 5 reason code (a ``DISCONNECT`` in 5, nothing in 3.1.1)."""
        self._disconnect_reason = reason
        self.close(CloseCode.PROTOCOL_ERROR if reason >= 0x80 else CloseCode.NORMAL, text)

    def _goodbye(self, code: int, reason: str) -> bytes:
        if not self.connected or self.version != V5:
            return b""
        mqtt_reason = self._disconnect_reason
        if mqtt_reason is None:
            mqtt_reason = _DISCONNECTS.get(code, 0x80)
        return encode(Disconnect(mqtt_reason, Properties(reason_string=reason[:200])), V5)

    def ping(self) -> None:
        """An MQTT server never pings: the sweep calls this when the client has been
        silent for one and a half keep-alives, and the client is gone."""
        if self.connected:
            self.disconnect(0x8D, "keep-alive timeout")

    def publish_packet(self, flight: Flight, *, dup: bool = False) -> bytes:
        """A ``PUBLISH`` to the client: with a topic alias when it takes them, or
        nothing when it is larger than the client takes."""
        props = flight.props
        topic = flight.topic
        if self.alias_max_out and self.version == V5:
            props = Properties() if props is None else own_properties(props)
            alias = self.aliases_out.get(topic)
            if alias is not None:
                props.topic_alias, topic = alias, ""
            elif len(self.aliases_out) < self.alias_max_out:
                props.topic_alias = self.aliases_out[topic] = len(self.aliases_out) + 1
        data = publish_bytes(
            topic,
            flight.payload,
            self.version,
            qos=flight.qos,
            retain=flight.retain,
            dup=dup,
            packet_id=flight.packet_id or None,
            properties=props if self.version == V5 else None,
        )
        if self.max_out and len(data) > self.max_out:
            return b""  # MQTT 5: not sent, as if delivered
        return data

    # -- events ---------------------------------------------------------------------

    def push(self, out: Outgoing) -> None:
        """The hot path: a room message to a connection whose one subscription to
        the room is plain (QoS 0, nothing of its own) is the bytes every such
        connection gets; anything else is looked at by :meth:`_deliver`."""
        env = out.envelope
        room = env.room
        if room in self.fast and env.op == "msg" and not self.waiting:
            data = out.render(self.fmt)  # b"" for what the text topic does not show
            if self.expiry and room is not None:
                self.positions[room] = env.seq or 0
        else:
            data = self._deliver(env, out)
        if data:
            transport = self._writable()
            if transport is not None:
                transport.write(data)

    def push_many(self, outs: list[Outgoing]) -> None:
        data = b"".join([self._deliver(out.envelope, out) for out in outs])
        if data:
            transport = self._writable()
            if transport is not None:
                transport.write(data)

    def send(self, envelope: Envelope) -> None:
        """An event for this connection alone (a replay, its rooms coming and going)."""
        if self._held is not None:
            self._held.append(envelope)
            return
        data = self._deliver(envelope, None)
        if data:
            self._write(data)

    def _deliver(self, env: Envelope, out: Outgoing | None) -> bytes:
        """An event as this connection's packets: a room's message on each topic
        the client subscribed to, at the QoS it may have there."""
        held = self._held
        if held is not None:
            held.append(env)
            return b""
        op = env.op
        if op != "msg":
            if op == "joined" and isinstance(env.body, dict):
                self.know_room(env.body)
            elif op == "left":
                self.plans.pop(env.room or "", None)
                self.fast.discard(env.room or "")
                self.positions.pop(env.room or "", None)
            return b""
        room = env.room
        if room is None:
            return b""
        routes = self.plans.get(room)
        if routes is None:
            routes = self._plan(room)
        seq = env.seq or 0
        if not routes:
            if seq and not self.waiting:
                self.positions[room] = seq
            return b""
        if self.waiting:  # in order behind what waits for the window
            for route in routes:
                flight = self._flight(env, route)
                if flight is not None:
                    self._queue_flight(flight)
            return b""
        chunks: list[bytes] = []
        shared = out is not None and not self.alias_max_out and not self.max_out
        shared = shared and room not in self.dms
        for route in routes:
            if shared and route.plain and not route.no_local:
                assert out is not None
                if route.events:
                    chunks.append(out.render(self.server.events_formats[self.version]))
                    continue
                chunks.append(out.render(self.fmt))  # b"" when not shown as text
                continue
            flight = self._flight(env, route)
            if flight is not None:
                chunks.append(self.emit(flight))
        if seq and not self.waiting:
            self.positions[room] = seq
        return b"".join(chunks)

    def _flight(self, env: Envelope, route: Route) -> Flight | None:
        """One route's delivery of a room message, or ``None`` (not for it)."""
        room, seq = env.room or "", env.seq or 0
        if route.no_local and (env.cid or "").startswith(f"mqtt-{self.local_tag}-"):
            return None
        if route.share is not None and not self.server.chosen(route.share, room, seq, self):
            return None
        now = self.app.clock()
        v5 = self.version == V5
        if route.events:
            payload = events_payload(env)
            props = Properties(payload_format=1, content_type="application/json") if v5 else None
            retain = False
        else:
            text = text_of(env)
            if text is None or expired(env, now):
                return None
            payload = text.encode()
            props = carried(env, now) if v5 else None
            retain = route.retain_as_published and was_retained(env)
        if props is not None and route.sub_ids:
            props.subscription_ids = list(route.sub_ids)
        qos = min(route.qos, published_qos(env)) if not route.events else route.qos
        return Flight(route.topic, payload, qos, retain, props, room, seq)

    def emit(self, flight: Flight) -> bytes:
        """A delivery's bytes now, or nothing (it waits for the window, in order)."""
        if self.waiting or (flight.qos and len(self.inflight) >= self.window):
            self._queue_flight(flight)
            return b""
        return self._send_flight(flight) if flight.qos else self.publish_packet(flight)

    def _send_flight(self, flight: Flight) -> bytes:
        """A QoS 1 or 2 delivery into the window: its packet id, then its bytes."""
        pid = self.next_pid
        for _ in range(65535):
            pid = pid % 65535 + 1
            if pid not in self.inflight:
                break
        self.next_pid = pid
        flight.packet_id = pid
        self.inflight[pid] = flight
        return self.publish_packet(flight)

    def _queue_flight(self, flight: Flight) -> None:
        self.waiting.append(flight)
        if len(self.waiting) > self.server.config.max_queued:
            self.waiting.clear()
            self.app.metrics.slow_consumers.inc()
            self.close(CloseCode.TOO_SLOW, "too slow: reconnect, the session keeps its place")

    def _pump(self) -> None:
        """Room in the window: what waited goes out, in order."""
        chunks: list[bytes] = []
        waiting = self.waiting
        while waiting and (waiting[0].qos == 0 or len(self.inflight) < self.window):
            flight = waiting.popleft()
            chunks.append(
                self.publish_packet(flight) if flight.qos == 0 else self._send_flight(flight)
            )
            if flight.room and flight.seq and not any(w.room == flight.room for w in waiting):
                self.positions[flight.room] = flight.seq
        if chunks:
            self._write(b"".join(chunks))

    def _acked(self, packet: PubAck | PubRec | PubComp) -> None:
        flight = self.inflight.get(packet.packet_id)
        if flight is None:
            if type(packet) is PubRec and self.version == V5:  # answer, so the client can go on
                self._write(encode(PubRel(packet.packet_id, 0x92), V5))
            return
        if type(packet) is PubRec:
            if flight.qos != 2:
                return
            if packet.reason >= 0x80:
                del self.inflight[packet.packet_id]
            else:
                flight.released = True
                self._write(encode(PubRel(packet.packet_id), self.version))
                return
        elif type(packet) is PubAck:
            if flight.qos != 1:
                return
            del self.inflight[packet.packet_id]
        else:
            if not flight.released:
                return
            del self.inflight[packet.packet_id]
        if self.waiting:
            self._pump()

    def deliver_free(self, message: FreeMessage) -> None:
        """A free topic's message, to each subscription of this connection it matches."""
        session = self.session
        if not self.connected or session is None or self._held is not None:
            return
        topic = message.topic
        routes = [
            route
            for route in routes_for(self.subs, topic, "")
            if not route.events and not (route.no_local and message.origin == self.local_tag)
        ]
        if not routes or not self.server.may(session.user, topic, "subscribe"):
            return
        chunks: list[bytes] = []
        for route in routes:
            if route.share is not None and not self.server.chosen_free(
                route.share, message.id, self
            ):
                continue
            props = own_properties(message.props) if self.version == V5 else None
            if props is not None and route.sub_ids:
                props.subscription_ids = list(route.sub_ids)
            retain = route.retain_as_published and message.retain
            flight = Flight(
                topic, message.payload, min(route.qos, message.qos), retain, props, None, None
            )
            chunks.append(self.emit(flight))
        data = b"".join(chunks)
        if data:
            self._write(data)

    def _plan(self, room: str) -> tuple[Route, ...]:
        """How ``room``'s messages reach this connection: its subscriptions that
        match the room's topics (``users/<me>`` for a DM)."""
        if room in self.dms:
            me = self.session.user.name if self.session is not None else ""
            text_topic = USERS + me
        else:
            text_topic = ROOMS + room
        routes = self.plans[room] = routes_for(self.subs, text_topic, text_topic + EVENTS)
        if (
            len(routes) == 1
            and routes[0].plain
            and not routes[0].events
            and room not in self.dms
            and not self.alias_max_out
            and not self.max_out
            and self._held is None
        ):
            self.fast.add(room)
        return routes

    # -- what the client sends ---------------------------------------------------------

    def add_sub(self, sub: Sub) -> None:
        old = self.subs.get(sub.filter)
        if old is not None and old.group is not None:
            self.server.share((old.group, old.topic_filter), self, False)
        self.subs[sub.filter] = sub
        if sub.group is not None:
            self.server.share((sub.group, sub.topic_filter), self, True)
        self.plans.clear()
        self.fast.clear()
        self.follow_free()

    def follow_free(self) -> None:
        """Whether free topics' messages are offered to this connection: while one
        of its filters may match one."""
        on = (
            self.server.config.free_topics
            and self.connected is not None
            and any(
                split_shared(sub.filter)[1].partition("/")[0] not in ("rooms", "users")
                for sub in self.subs.values()
            )
        )
        self.server.follow_free(self, bool(on))

    def _disconnected(self, packet: Disconnect) -> None:
        """The client says goodbye: no will, unless it asks for one (MQTT 5, 0x04)."""
        if packet.reason != 0x04:
            self.will = None
        expiry = packet.properties.session_expiry
        if expiry is not None:
            if self.expiry == 0 and expiry:
                self.disconnect(0x82, "a session that ends with its connection cannot be kept")
                return
            self.expiry = min(expiry, self.server.config.max_session_expiry)
        self.lifecycle.closing(CloseCode.NORMAL, "client disconnected")
        if self.transport is not None:
            self.transport.close()
        self._ended()

    # -- the end ----------------------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Close; a persistent session's place is saved now, so that a node shutting
        down has written it before the store closes."""
        if not self.lifecycle.ended:
            super().close(code, reason)
            self._ended()

    def connection_lost(self, exc: Exception | None) -> None:
        ended_here = not self.lifecycle.ended
        super().connection_lost(exc)
        if ended_here:
            self._ended()

    def _ended(self) -> None:
        """Once, whoever closed: save or drop the session, publish the will."""
        if self.key is None or not self.connected:
            return
        if self._save_timer is not None:
            self._save_timer.cancel()
            self._save_timer = None
        for sub in self.subs.values():
            if sub.group is not None:
                self.server.share((sub.group, sub.topic_filter), self, False)
        server, key = self.server, self.key
        server.follow_free(self, False)
        if server.sessions.get(key) is self:
            del server.sessions[key]
        self.connected = False
        if self._handed_over:
            return
        if self.expiry:
            self._save_final()
        will = self.will
        self.will = None
        if will is not None and self.app.serving:  # a node shutting down publishes none
            delay = min(will.properties.will_delay or 0, self.expiry)
            if delay and self.version == V5:
                server.wills[key] = asyncio.get_running_loop().call_later(
                    delay, lambda: self.app.spawn(self._publish_will(will, key))
                )
            else:
                self.app.spawn(self._publish_will(will, None))

    def _save_final(self) -> None:
        key = self.key
        if key is None:
            return
        self.key = None  # nothing is saved after this
        state, expiry = self.snapshot(), self.expiry
        previous = self._saving

        async def last() -> None:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            await save_session(self.app, key, state, expiry)

        # A reconnection on this node waits for it before it reads the session.
        task = self.server.saving[key] = asyncio.ensure_future(last())
        task.add_done_callback(
            lambda done: (
                self.server.saving.pop(key) if self.server.saving.get(key) is done else None
            )
        )
        self.app.spawn(task)

    async def _publish_will(self, will: Any, key: str | None) -> None:
        if key is not None:
            self.server.wills.pop(key, None)
        packet = Publish(
            will.topic, will.payload, will.qos, will.retain, properties=will.properties
        )
        try:
            await self.inbound.publish_to(will.topic, packet)
        except (HomerError, Refused) as exc:
            log.info("MQTT will not published: %s", exc, extra={"topic": will.topic[:200]})
