"""What every MQTT connection of a node shares: the renderings shared by plain
subscribers, the live sessions by key (a new connection takes a session over,
here or, through the broker, on another node), the local members of shared
subscriptions, the wills that wait for their delay, and the free topics: their
rules and their messages between nodes (the broker key ``mqtt``)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from homer.config import MqttTopicRule
from homer.errors import BrokerError
from homer.identity.accounts import User
from homer.protocol.envelope import Envelope
from homer.protocol.mqtt import Properties
from homer.transports.mqtt_routes import EventsFormat, TextFormat
from homer.transports.mqtt_store import Message

if TYPE_CHECKING:
    from homer.core.app import Homer
    from homer.transports.mqtt import MqttPeer

__all__ = ["FreeMessage", "MqttServer"]

log = logging.getLogger("homer.mqtt")


class MqttServer:
    """What every MQTT connection of a node shares: the shared formats, the live
    sessions by key (a new connection takes a session over), the local members
    of shared subscriptions, and the wills that wait for their delay."""

    def __init__(self, app: Homer) -> None:
        self.app = app
        self.config = app.config.mqtt
        # MQTT 3.1 and 3.1.1 write a PUBLISH alike: one format serves both.
        text, events = TextFormat(4, app.clock), EventsFormat(4)
        self.text_formats = {3: text, 4: text, 5: TextFormat(5, app.clock)}
        self.events_formats = {3: events, 4: events, 5: EventsFormat(5)}
        self.sessions: dict[str, MqttPeer] = {}
        #: (group, filter) -> the connections here that share it.
        self.shared: dict[tuple[str, str], list[MqttPeer]] = {}
        #: Session key -> the write of a session whose connection ended.
        self.saving: dict[str, asyncio.Future[None]] = {}
        #: Session key -> a will waiting for its delay.
        self.wills: dict[str, asyncio.TimerHandle] = {}
        #: The connections here with a subscription that may match a free topic.
        self.free_peers: set[MqttPeer] = set()
        self._bound = False
        #: The free topics' rules, longest prefix first.
        self.rules = sorted(self.config.topics, key=lambda rule: len(rule.prefix), reverse=True)

    # -- free topics (``mqtt.free_topics``) ----------------------------------------------

    def may(self, user: User, topic: str, direction: str) -> bool:
        """Whether ``user`` may publish to (``direction="publish"``) or subscribe to
        the free topic ``topic``: the longest rule whose prefix it starts with says."""
        for rule in self.rules:
            if topic.startswith(rule.prefix):
                return self._granted(user, rule, direction)
        return False

    def may_filter(self, user: User, pattern: str) -> bool:
        """Whether a subscription to ``pattern`` can receive any free topic: some
        rule that lets the user subscribe covers topics the filter's fixed part
        (before its first wildcard) reaches. Each message is checked as it comes."""
        fixed = pattern
        for wildcard in ("+", "#"):
            at = fixed.find(wildcard)
            if at >= 0:
                fixed = fixed[:at]
        if fixed == pattern:
            return self.may(user, pattern, "subscribe")
        return any(
            (rule.prefix.startswith(fixed) or fixed.startswith(rule.prefix))
            and self._granted(user, rule, "subscribe")
            for rule in self.rules
        )

    def _granted(self, user: User, rule: MqttTopicRule, direction: str) -> bool:
        permission = rule.publish if direction == "publish" else rule.subscribe
        if permission is None:
            return False
        return permission == "" or self.app.identity.authorizer.can(user, permission)

    def follow(self) -> None:
        """Take MQTT's own traffic between nodes (``mqtt``: free topics' messages,
        session takeovers) from the first connection on."""
        if not self._bound:
            self._bound = True
            self.app.key_listeners["mqtt"] = self._delivered
            self.app.broker.bind("mqtt")

    def follow_free(self, peer: MqttPeer, on: bool) -> None:
        if on:
            self.free_peers.add(peer)
            self.follow()
        else:
            self.free_peers.discard(peer)

    async def publish_free(self, message: FreeMessage) -> None:
        """Pass a free topic's message to every node's subscribers (not stored)."""
        await self.app.broker.publish("mqtt", Envelope(op="mqtt", body=message.to_json()))

    async def taking_over(self, key: str, peer: MqttPeer) -> None:
        """Tell the other nodes that ``peer`` has the session ``key`` now: a
        connection of it there is closed (the session is this node's now)."""
        self.follow()
        body = {"key": key, "conn": peer.conn_id}
        try:
            await self.app.broker.publish("mqtt", Envelope(op="mqtt_takeover", body=body))
        except BrokerError as exc:  # the other nodes' keep-alives settle it
            log.warning("MQTT takeover not announced: %s", exc.message)

    def _delivered(self, ident: str, envelope: Envelope) -> None:
        body = envelope.body
        if envelope.op == "mqtt_takeover":
            if isinstance(body, dict):
                peer = self.sessions.get(str(body.get("key")))
                if peer is not None and peer.conn_id != body.get("conn"):
                    peer.hand_over()
            return
        message = FreeMessage.from_json(body)
        if message is None:
            return
        for peer in list(self.free_peers):
            peer.deliver_free(message)

    def chosen(self, share: tuple[str, str], room: str, seq: int, peer: MqttPeer) -> bool:
        """Whether ``peer`` is the member of a shared subscription that gets the
        message ``seq`` of ``room``: one of those here in the room, the same
        answer for every member without asking the others."""
        members = [
            member
            for member in self.shared.get(share, ())
            if member.session is not None and room in member.session.rooms
        ]
        return not members or members[seq % len(members)] is peer

    def chosen_free(self, share: tuple[str, str], message_id: str, peer: MqttPeer) -> bool:
        members = self.shared.get(share, ())
        return not members or members[hash(message_id) % len(members)] is peer

    def share(self, key: tuple[str, str], peer: MqttPeer, on: bool) -> None:
        members = self.shared.setdefault(key, [])
        if on and peer not in members:
            members.append(peer)
        elif not on and peer in members:
            members.remove(peer)
        if not members:
            del self.shared[key]


class FreeMessage(Message):
    """A message on a free topic, as it crosses the broker between nodes."""

    __slots__ = ("id", "origin")

    def __init__(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        props: Properties,
        origin: str,
        id: str,
    ) -> None:
        super().__init__(topic, payload, qos, retain, props)
        #: The publisher's client id part (for "no local").
        self.origin = origin
        self.id = id

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "origin": self.origin, "id": self.id}

    @classmethod
    def from_json(cls, data: Any) -> FreeMessage | None:
        try:
            return cls(*cls.fields(data), str(data.get("origin") or ""), str(data.get("id") or ""))
        except (KeyError, TypeError, ValueError):
            return None
