"""What MQTT keeps beyond a connection, in the store's session table: persistent
sessions (subscriptions, each room's place, the messages in flight) and
retained messages. Both are shared by every node of a deployment."""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any, Final

from homer.errors import HomerError
from homer.protocol.mqtt import Properties
from homer.protocol.mqtt_topics import matches
from homer.transports.mqtt_routes import props_from_json, props_to_json

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = [
    "Flight",
    "Message",
    "forget_session",
    "keep_retained",
    "load_session",
    "retained_for",
    "save_session",
]

log = logging.getLogger("homer.mqtt")

SESSIONS: Final = "mqtt-session:"
RETAINED: Final = "mqtt-retained:"


def session_key(user_id: str, client_id: str) -> str:
    """A session belongs to an account and a client id: another account's client
    with the same id has a session of its own."""
    return f"{SESSIONS}{user_id}:{client_id}"


async def load_session(app: Homer, key: str) -> dict[str, Any] | None:
    found = await app.store.get_session(key, app.clock())
    return dict(found) if found is not None else None


async def save_session(app: Homer, key: str, data: dict[str, Any], expiry: float) -> None:
    """Keep a session's state; a store that fails is logged (the session's last
    saved state stands, and a reconnection resumes from there)."""
    try:
        await app.store.put_session(key, data, app.clock() + expiry)
    except HomerError as exc:
        log.warning("MQTT session not saved: %s", exc.message, extra={"session": key[:200]})


async def forget_session(app: Homer, key: str) -> None:
    await app.store.delete_session(key)


class Message:
    """A ``PUBLISH``'s content as Homer keeps it or passes it on: a retained
    message, a free topic's message between nodes, a delivery in flight."""

    __slots__ = ("payload", "props", "qos", "retain", "topic")

    def __init__(
        self, topic: str, payload: bytes, qos: int, retain: bool, props: Properties | None
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.props = props

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "payload": base64.b64encode(self.payload).decode(),
            "qos": self.qos,
            "retain": self.retain,
            "props": props_to_json(self.props),
        }

    @staticmethod
    def fields(data: Any) -> tuple[str, bytes, int, bool, Properties]:
        """The base fields of a kept message (``KeyError``, ``TypeError`` or
        ``ValueError`` when it is not one)."""
        return (
            str(data["topic"]),
            base64.b64decode(data["payload"]),
            int(data["qos"]),
            bool(data.get("retain")),
            props_from_json(data.get("props") or {}),
        )

    @classmethod
    def from_json(cls, data: Any) -> Message | None:
        try:
            return cls(*cls.fields(data))
        except (KeyError, TypeError, ValueError):
            return None


async def keep_retained(app: Homer, message: Message, expiry: int | None) -> None:
    """Keep ``message`` as its topic's retained message; an empty one clears it."""
    key = RETAINED + message.topic
    if not message.payload:
        await app.store.delete_session(key)
        return
    expires = app.clock() + expiry if expiry else None
    await app.store.put_session(key, message.to_json(), expires)


async def retained_for(app: Homer, pattern: str, limit: int) -> list[Message]:
    """The retained messages whose topics ``pattern`` matches (a filter without its
    ``$share/`` part), at most ``limit``, in topic order."""
    fixed = pattern
    for wildcard in ("+", "#"):
        at = fixed.find(wildcard)
        if at >= 0:
            fixed = fixed[:at]
    # ``a/#`` matches ``a`` too: the prefix stops before the last separator.
    fixed = fixed.rstrip("/")
    if fixed == pattern:  # no wildcard: one topic at most
        found = await app.store.get_session(RETAINED + pattern, app.clock())
        one = Message.from_json(found) if found is not None else None
        return [one] if one is not None else []
    rows = await app.store.sessions_under(RETAINED + fixed, app.clock(), max(limit * 4, 100))
    kept: list[Message] = []
    for data in rows.values():
        message = Message.from_json(data)
        if message is not None and matches(pattern, message.topic):
            kept.append(message)
            if len(kept) >= limit:
                break
    return kept


class Flight(Message):
    """A ``PUBLISH`` to the client, from when it is sent to its last
    acknowledgement; kept with the session, so a reconnection sends it again."""

    __slots__ = ("packet_id", "released", "room", "seq")

    def __init__(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        props: Properties | None,
        room: str | None,
        seq: int | None,
    ) -> None:
        super().__init__(topic, payload, qos, retain, props)
        self.packet_id = 0
        self.room = room
        self.seq = seq
        #: QoS 2: ``PUBREC`` came, ``PUBREL`` went; waiting for ``PUBCOMP``.
        self.released = False

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "pid": self.packet_id,
            "room": self.room,
            "seq": self.seq,
            "rel": self.released,
        }

    @classmethod
    def restored(cls, data: dict[str, Any]) -> Flight:
        flight = cls(*cls.fields(data), data.get("room"), data.get("seq"))
        flight.packet_id = int(data["pid"])
        flight.released = bool(data.get("rel"))
        return flight
