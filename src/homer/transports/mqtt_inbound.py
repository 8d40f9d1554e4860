"""What an MQTT client publishes: into a room or a DM, as a free topic's message,
as a retained message; each acknowledged once it is durably stored (or refused
with its reason code), in packet order.

A connection's room messages at QoS 0 and 1 start at once: each takes its
place in the room's order after the one before it (``messages.AFTER``),
whatever its checks wait for, so the messages of one read are one commit and
one write to each subscriber. QoS 2 and retained messages go one at a time.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import logging
import secrets
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from homer.errors import BrokerError, HomerError
from homer.messaging.messages import AFTER, QUEUED
from homer.protocol.mqtt import V5, Properties, PubAck, PubComp, Publish, PubRec, PubRel, encode
from homer.store.records import name_key
from homer.transports.mqtt_routes import ERROR_REASONS, EVENTS, Refused, Target, target_of
from homer.transports.mqtt_server import FreeMessage
from homer.transports.mqtt_store import Message, keep_retained

if TYPE_CHECKING:
    from homer.transports.mqtt import MqttPeer

__all__ = ["Inbound"]

log = logging.getLogger("homer.mqtt")

#: Room messages of one connection that may wait for their commit at once.
PIPELINED: Final = 100


class Inbound:
    """One connection's publishes on their way in, and what MQTT keeps of them:
    QoS 2 packet ids awaiting ``PUBREL``, topic aliases, the unanswered count
    that MQTT 5's receive maximum bounds."""

    __slots__ = ("aliases", "answers", "last_queued", "peer", "qos2", "serial", "unanswered")

    def __init__(self, peer: MqttPeer) -> None:
        self.peer = peer
        #: Packet ids of QoS 2 messages stored and ``PUBREC``-ed, awaiting ``PUBREL``.
        self.qos2: set[int] = set()
        #: Topic aliases the client set (MQTT 5).
        self.aliases: dict[int, str] = {}
        #: QoS 1 and 2 publishes received and not answered yet (MQTT 5).
        self.unanswered = 0
        #: Room messages on their way to the store, in packet order, with what
        #: their acknowledgement needs.
        self.answers: deque[tuple[asyncio.Task[tuple[int, str]], Publish, str]] = deque()
        #: The last of them to take its place in the room's order (or ``None``).
        self.last_queued: asyncio.Future[None] | None = None
        #: Numbers this connection's messages' client ids.
        self.serial = 0

    async def publish(self, packet: Publish) -> None:
        """A ``PUBLISH`` from the client: its topic (an alias resolved), then its
        message stored or passed on, and its answer in turn."""
        if packet.properties.subscription_ids:
            self.peer.disconnect(0x82, "a client's PUBLISH carries no subscription identifier")
            return
        topic = packet.topic
        alias = packet.properties.topic_alias
        if alias is not None:
            if alias > self.peer.server.config.topic_alias_maximum:
                self.peer.disconnect(0x94, "topic alias above the maximum")
                return
            if topic:
                self.aliases[alias] = topic
            else:
                found = self.aliases.get(alias)
                if found is None:
                    self.peer.disconnect(0x82, f"topic alias {alias} was never set")
                    return
                topic = found
        elif not topic:
            self.peer.disconnect(0x82, "a PUBLISH needs a topic or a topic alias")
            return
        qos, pid = packet.qos, packet.packet_id or 0
        if qos == 2 and pid in self.qos2:  # sent again before PUBREL: stored already
            self.unanswered -= 1
            self.peer.write(encode(PubRec(pid), self.peer.version))
            return
        target = target_of(topic)
        session = self.peer.session
        if (
            qos == 2
            or packet.retain
            or target.kind not in ("room", "user")
            or (target.kind == "room" and session is not None and target.name not in session.rooms)
        ):
            # One at a time, after what went before: QoS 2's duplicates are told
            # apart by packet id once stored, a retained message is kept in order,
            # a room is joined once.
            await self.settle()
            self.answer(packet, topic, await self.attempt(topic, packet, target))
            return
        # A room message at QoS 0 or 1 starts at once: each takes its place in the
        # room's order after the one before it (messages.AFTER), whatever its checks
        # wait for, so the messages of one read are one commit and one write to
        # each subscriber; the acknowledgements go out in order, each once its
        # message is stored.
        loop = asyncio.get_running_loop()
        queued: asyncio.Future[None] = loop.create_future()
        context = contextvars.copy_context()
        context.run(QUEUED.set, queued)
        context.run(AFTER.set, self.last_queued)
        self.last_queued = queued
        attempt = loop.create_task(self.attempt(topic, packet, target, queued), context=context)
        self.answers.append((attempt, packet, topic))
        attempt.add_done_callback(self.answered)
        self.peer.app.spawn(attempt)  # a node stopping waits for it
        if len(self.answers) > PIPELINED:
            await asyncio.wait((self.answers[0][0],))

    async def attempt(
        self,
        topic: str,
        packet: Publish,
        target: Target,
        queued: asyncio.Future[None] | None = None,
    ) -> tuple[int, str]:
        """Store (or pass on) a message: 0, or the reason code and why not."""
        try:
            await self.publish_to(topic, packet, target)
        except HomerError as exc:
            return ERROR_REASONS.get(exc.code.value, 0x80), exc.message
        except Refused as exc:
            return exc.reason, exc.text
        finally:
            if queued is not None and not queued.done():
                queued.set_result(None)  # refused before its place: the next goes on
        return 0, ""

    def answered(self, _: object = None) -> None:
        """The acknowledgements of the messages stored so far, in packet order."""
        answers = self.answers
        while answers and answers[0][0].done():
            attempt, packet, topic = answers.popleft()
            if attempt.cancelled():
                continue
            self.answer(packet, topic, attempt.result())

    async def settle(self) -> None:
        """Wait until every earlier message is answered."""
        while self.answers:
            await asyncio.wait((self.answers[-1][0],))
            self.answered()
        self.last_queued = None

    def answer(self, packet: Publish, topic: str, outcome: tuple[int, str]) -> None:
        """The acknowledgement of a client's message, or the end of a connection
        that cannot be told it was refused."""
        qos, pid = packet.qos, packet.packet_id or 0
        if qos and self.peer.version == V5:
            self.unanswered -= 1
        reason, why = outcome
        if reason and (qos == 0 or self.peer.version != V5):
            # MQTT 3.1.1 and QoS 0 have no refusal to send back: the connection
            # closes, with the reason in MQTT 5's DISCONNECT (and the server's log).
            log.info(
                "MQTT publish refused: %s", why, extra={"conn": id(self.peer), "topic": topic[:200]}
            )
            self.peer.disconnect(reason, why)
            return
        props = Properties(reason_string=why[:200]) if why and self.peer.problems else Properties()
        if qos == 1:
            self.peer.write(encode(PubAck(pid, reason, props), self.peer.version))
        elif qos == 2:
            if not reason:
                self.qos2.add(pid)
            self.peer.write(encode(PubRec(pid, reason, props), self.peer.version))

    async def publish_to(self, topic: str, packet: Publish, target: Target | None = None) -> None:
        """Store (or pass on) a client's message; returns once it is durable."""
        if target is None:
            target = target_of(topic)
        kind = target.kind
        if kind in ("room", "user"):
            if packet.retain and not packet.payload:  # clears the retained message only
                await self.may_post(target)
                await keep_retained(self.peer.app, Message(topic, b"", 0, True, Properties()), None)
                return
            try:
                text = packet.payload.decode()
            except UnicodeDecodeError:
                raise Refused(0x99, f"{topic} takes UTF-8 text") from None
            room = await self.may_post(target)
            data = self.kept_data(packet)
            self.serial += 1
            await self.peer.op(
                "send",
                room=room,
                cid=f"{self.peer.cid_prefix}{self.serial}",
                text=text,
                data={"mqtt": data} if data else None,
            )
            if packet.retain:
                kept = Message(topic, packet.payload, packet.qos, True, packet.properties)
                await keep_retained(self.peer.app, kept, packet.properties.message_expiry)
            return
        if kind in ("room_events", "user_events"):
            raise Refused(0x90, f"{topic} is read-only: publish to {topic[: -len(EVENTS)]}")
        if kind == "system":
            raise Refused(0x90, "topics starting with $ are the server's")
        await self.publish_free(topic, packet)

    async def publish_free(self, topic: str, packet: Publish) -> None:
        """A free topic (``mqtt.free_topics``): passed to its subscribers on every
        node, and kept when retained; not stored as chat history."""
        server, session = self.peer.server, self.peer.session
        if not server.config.free_topics:
            raise Refused(0x90, "topics outside rooms/ and users/ are off on this server")
        if session is None or not server.may(session.user, topic, "publish"):
            raise Refused(0x87, f"no permission to publish to {topic}")
        props = packet.properties
        if packet.retain:
            kept = Message(topic, packet.payload, packet.qos, True, props)
            await keep_retained(self.peer.app, kept, props.message_expiry)
            if not packet.payload:
                return
        message = FreeMessage(
            topic,
            packet.payload,
            packet.qos,
            packet.retain,
            props,
            self.peer.local_tag,
            secrets.token_hex(8),
        )
        try:
            await server.publish_free(message)
        except BrokerError as exc:
            raise Refused(0x80, "the broker is away: publish again") from exc

    async def may_post(self, target: Target) -> str:
        """The room a publish to ``target`` goes to: a room the user is in (a public
        one is joined, as IRC's ``JOIN`` does), or the DM with a user."""
        if target.kind == "user":
            known = self.peer.dm_rooms.get(name_key(target.name))
            if known is not None:  # a DM this connection knows already
                return known
            info = await self.peer.op("dm", user=target.name)
            return str(info["id"])
        room = str(target.name)
        session = self.peer.session
        if session is not None and room not in session.rooms:
            await self.peer.op("join", room=room)
        return room

    def kept_data(self, packet: Publish) -> dict[str, Any]:
        """What a publish carries beside its text, to give back to MQTT subscribers."""
        props = packet.properties
        data: dict[str, Any] = {}
        if packet.qos < 2:
            data["qos"] = packet.qos
        if packet.retain:
            data["retain"] = True
        if props.content_type is not None:
            data["content_type"] = props.content_type
        if props.response_topic is not None:
            data["response_topic"] = props.response_topic
        if props.correlation_data is not None:
            data["correlation"] = base64.b64encode(props.correlation_data).decode()
        if props.user_properties:
            data["user"] = [list(pair) for pair in props.user_properties]
        if props.message_expiry is not None:
            data["expires"] = self.peer.app.clock() + props.message_expiry
        return data

    def released(self, packet: PubRel) -> None:
        """QoS 2's ``PUBREL``: the packet id is free again (``PUBCOMP``)."""
        pid = packet.packet_id
        if pid in self.qos2:
            self.qos2.discard(pid)
            self.peer.write(encode(PubComp(pid), self.peer.version))
        else:
            self.peer.write(
                encode(PubComp(pid, 0x92 if self.peer.version == V5 else 0), self.peer.version)
            )
