"""MQTT topics as Homer's chat model (docs/topics/mqtt.md, pinned):

- ``rooms/<room>``: the room's messages as UTF-8 text; publishing sends one;
- ``rooms/<room>/events``: every event of the room as its JSON envelope;
- ``users/<name>``: a user's direct messages as text (publishing to it sends
  one to ``name``); ``users/<name>/events`` the same as envelopes;
- anything else is a free topic (``mqtt.free_topics``), or refused.

What a message published over MQTT carries beside its text (its QoS, retain
flag, content type, user properties, response topic, correlation data and
expiry) is kept in the message's ``data`` under ``mqtt``, so that MQTT
subscribers get it back whoever else reads the room.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from homer.protocol.envelope import Envelope
from homer.protocol.mqtt import V5, Properties, publish_bytes
from homer.protocol.mqtt_topics import matches, split_shared

__all__ = [
    "ERROR_REASONS",
    "EventsFormat",
    "Refused",
    "Route",
    "Sub",
    "Target",
    "TextFormat",
    "carried",
    "events_payload",
    "mqtt_data",
    "own_properties",
    "props_from_json",
    "props_to_json",
    "routes_for",
    "target_of",
    "text_of",
]

ROOMS: Final = "rooms/"
USERS: Final = "users/"
EVENTS: Final = "/events"

_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Target:
    """What a topic name stands for."""

    #: ``room``, ``room_events``, ``user``, ``user_events``, ``system`` (``$...``)
    #: or ``free``.
    kind: str
    #: The room id, the user name, or the topic itself.
    name: str


def target_of(topic: str) -> Target:
    if topic.startswith("$"):
        return Target("system", topic)
    for prefix, kind in ((ROOMS, "room"), (USERS, "user")):
        if topic.startswith(prefix):
            rest = topic[len(prefix) :]
            if rest.endswith(EVENTS) and rest.count("/") == 1:
                return Target(kind + "_events", rest[: -len(EVENTS)])
            if rest and "/" not in rest:
                return Target(kind, rest)
            return Target("free", topic)
    return Target("free", topic)


@dataclass(frozen=True, slots=True)
class Sub:
    """One subscription, as the client asked for it."""

    #: The filter as given (``$share/group/...`` included).
    filter: str
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0
    sub_id: int | None = None

    @property
    def group(self) -> str | None:
        return split_shared(self.filter)[0]

    @property
    def topic_filter(self) -> str:
        return split_shared(self.filter)[1]

    def to_json(self) -> dict[str, Any]:
        return {
            "filter": self.filter,
            "qos": self.qos,
            "nl": self.no_local,
            "rap": self.retain_as_published,
            "rh": self.retain_handling,
            "id": self.sub_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sub:
        return cls(
            str(data["filter"]),
            int(data["qos"]),
            bool(data.get("nl")),
            bool(data.get("rap")),
            int(data.get("rh") or 0),
            data.get("id"),
        )


@dataclass(frozen=True, slots=True)
class Route:
    """How a room's events reach one connection on one topic: the subscriptions
    that match it, folded into one delivery (the highest QoS, every identifier),
    as MQTT 5 allows; a shared subscription is a route of its own."""

    topic: str
    events: bool
    qos: int
    sub_ids: tuple[int, ...] = ()
    no_local: bool = False
    retain_as_published: bool = False
    #: ``(group, filter)`` of a shared subscription.
    share: tuple[str, str] | None = None

    @property
    def plain(self) -> bool:
        """Nothing of this connection's own in its bytes: a QoS 0 text or events
        delivery that every such connection gets the same."""
        return (
            self.qos == 0
            and not self.sub_ids
            and self.share is None
            and not self.no_local
            and not self.retain_as_published
        )


def routes_for(subs: dict[str, Sub], text_topic: str, events_topic: str) -> tuple[Route, ...]:
    """The routes of one room (or a user's DMs) for a connection's subscriptions."""
    routes: list[Route] = []
    for topic, events in ((text_topic, False), (events_topic, True)):
        qos, ids, local, rap, found = -1, [], True, False, False
        for sub in subs.values():
            group, pattern = split_shared(sub.filter)
            if not matches(pattern, topic):
                continue
            if group is not None:
                routes.append(
                    Route(
                        topic,
                        events,
                        sub.qos,
                        (sub.sub_id,) if sub.sub_id else (),
                        sub.no_local,
                        sub.retain_as_published,
                        (group, pattern),
                    )
                )
                continue
            found = True
            qos = max(qos, sub.qos)
            if sub.sub_id and sub.sub_id not in ids:
                ids.append(sub.sub_id)
            local = local and sub.no_local
            rap = rap or sub.retain_as_published
        if found:
            routes.append(Route(topic, events, qos, tuple(ids), local, rap))
    return tuple(routes)


def mqtt_data(env: Envelope) -> dict[str, Any] | None:
    """What an MQTT publisher gave beside the text (``data.mqtt``), if anything."""
    body = env.body
    if type(body) is not dict:
        return None
    data = body.get("data")
    if type(data) is not dict:
        return None
    found = data.get("mqtt")
    return found if type(found) is dict else None


def text_of(env: Envelope) -> str | None:
    """The text a room's text topic shows of an event: a message's, when it has
    some; nothing for other events."""
    if env.op != "msg" or env.kind != "msg":
        return None
    body = env.body
    if type(body) is not dict:
        return None
    text = body.get("text")
    return text if type(text) is str and text else None


def events_payload(env: Envelope) -> bytes:
    return _json.encode(env)


def carried(env: Envelope, now: float | None = None) -> Properties:
    """The MQTT 5 properties of a message on a text topic: who sent it, where, and
    what its MQTT publisher gave (the expiry as what is left of it at ``now``)."""
    props = Properties(payload_format=1)
    users = [("sender", env.sender or ""), ("seq", str(env.seq or 0))]
    extra = mqtt_data(env)
    if extra is not None:
        content_type = extra.get("content_type")
        if type(content_type) is str:
            props.content_type = content_type
        response = extra.get("response_topic")
        if type(response) is str:
            props.response_topic = response
        correlation = extra.get("correlation")
        if type(correlation) is str:
            with contextlib.suppress(binascii.Error, ValueError):
                props.correlation_data = base64.b64decode(correlation, validate=True)
        given = extra.get("user")
        if type(given) is list:
            users += [(str(k), str(v)) for k, v in given if type(k) is str and type(v) is str]
        expires = extra.get("expires")
        if isinstance(expires, int | float) and now is not None:
            props.message_expiry = max(int(expires - now), 1)
    props.user_properties = users
    return props


def expired(env: Envelope, now: float) -> bool:
    extra = mqtt_data(env)
    if extra is None:
        return False
    expires = extra.get("expires")
    return isinstance(expires, int | float) and expires <= now


def published_qos(env: Envelope) -> int:
    """The QoS a message was published with: an MQTT publisher's, or 2 for a
    message from another protocol (stored durably and acknowledged once)."""
    extra = mqtt_data(env)
    if extra is None:
        return 2
    qos = extra.get("qos", 2)
    return qos if qos in (0, 1, 2) else 2


def was_retained(env: Envelope) -> bool:
    extra = mqtt_data(env)
    return extra is not None and extra.get("retain") is True


class TextFormat:
    """A room message as a QoS 0 PUBLISH on ``rooms/<room>``: the same bytes for
    every connection of one protocol version with a plain route (the fan-out)."""

    __slots__ = ("clock", "version")

    def __init__(self, version: int, clock: Callable[[], float]) -> None:
        self.version = version
        #: For what is left of a message's expiry when it goes out.
        self.clock = clock

    def render(self, envelope: Envelope) -> bytes:
        text = text_of(envelope)
        if text is None:
            return b""  # not on a text topic: a join, an edit, a reaction
        props = carried(envelope, self.clock()) if self.version == V5 else None
        return publish_bytes(
            ROOMS + (envelope.room or ""), text.encode(), self.version, properties=props
        )


class EventsFormat:
    """A room event as a QoS 0 PUBLISH on ``rooms/<room>/events``, shared likewise."""

    __slots__ = ("props", "version")

    def __init__(self, version: int) -> None:
        self.version = version
        self.props = (
            Properties(payload_format=1, content_type="application/json") if version == V5 else None
        )

    def render(self, envelope: Envelope) -> bytes:
        return publish_bytes(
            ROOMS + (envelope.room or "") + EVENTS,
            events_payload(envelope),
            self.version,
            properties=self.props,
        )


# -- properties kept in a session (messages in flight) and in retained messages --------

_KEPT: Final = (
    "payload_format",
    "message_expiry",
    "content_type",
    "response_topic",
    "subscription_ids",
    "user_properties",
)


def props_to_json(props: Properties | None) -> dict[str, Any]:
    if props is None:
        return {}
    found: dict[str, Any] = {}
    for name in _KEPT:
        value = getattr(props, name)
        if value:
            found[name] = value
    if props.correlation_data is not None:
        found["correlation_data"] = base64.b64encode(props.correlation_data).decode()
    return found


def props_from_json(data: dict[str, Any]) -> Properties:
    props = Properties()
    for name in _KEPT:
        if name in data:
            value = data[name]
            if name == "user_properties":
                value = [(str(k), str(v)) for k, v in value]
            setattr(props, name, value)
    correlation = data.get("correlation_data")
    if isinstance(correlation, str):
        props.correlation_data = base64.b64decode(correlation)
    return props


#: MQTT 5 reason codes Homer's errors become (docs/topics/mqtt.md).
ERROR_REASONS: Final = {
    "forbidden": 0x87,
    "not_found": 0x87,
    "unauthenticated": 0x87,
    "rate_limited": 0x97,
    "conflict": 0x97,  # too many connections for the user
    "too_large": 0x95,
    "invalid": 0x83,
    "unavailable": 0x80,
}


class Refused(Exception):
    """A packet Homer does not take, with the MQTT 5 reason code to say so."""

    def __init__(self, reason: int, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text


def own_properties(props: Properties | None) -> Properties:
    """Properties of this connection's own, from shared ones."""
    copy = Properties()
    if props is None:
        return copy
    for name in props.__slots__:
        value = getattr(props, name)
        setattr(copy, name, list(value) if isinstance(value, list) else value)
    return copy
