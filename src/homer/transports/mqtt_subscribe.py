"""What an MQTT client subscribes to: filters as rooms (a public room named is
joined), a user's own DMs, free topics by their rules; each refused with its
reason code where the user may not read, and the retained messages a new
subscription is owed."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from homer.errors import HomerError
from homer.protocol.mqtt import V5, SubAck, Subscribe, Subscription, UnsubAck, Unsubscribe, encode
from homer.protocol.mqtt_topics import split_shared
from homer.store.records import name_key
from homer.transports.mqtt_routes import ERROR_REASONS, Refused, Sub, own_properties, target_of
from homer.transports.mqtt_store import Flight, Message, retained_for

if TYPE_CHECKING:
    from homer.transports.mqtt import MqttPeer

__all__ = ["subscribe", "unsubscribe"]


async def subscribe(peer: MqttPeer, packet: Subscribe) -> None:
    reasons: list[int] = []
    retained: list[tuple[Sub, Message]] = []
    sub_id = packet.properties.subscription_ids[0] if packet.properties.subscription_ids else None
    for asked in packet.subscriptions:
        try:
            await _may_read(peer, asked)
        except HomerError as exc:
            reasons.append(ERROR_REASONS.get(exc.code.value, 0x80) if peer.version == V5 else 0x80)
            continue
        except Refused as exc:
            reasons.append(exc.reason if peer.version == V5 else 0x80)
            continue
        qos = min(asked.qos, 2)
        sub = Sub(
            asked.filter,
            qos,
            asked.no_local,
            asked.retain_as_published,
            asked.retain_handling,
            sub_id,
        )
        new = asked.filter not in peer.subs
        peer.add_sub(sub)
        reasons.append(qos)
        if sub.group is None and (sub.retain_handling == 0 or (sub.retain_handling == 1 and new)):
            with contextlib.suppress(HomerError):
                for message in await retained_for(
                    peer.app, sub.topic_filter, peer.server.config.retained_limit
                ):
                    if _may_see(peer, message.topic):
                        retained.append((sub, message))
    peer.write(encode(SubAck(packet.packet_id, reasons), peer.version))
    chunks: list[bytes] = []
    for sub, message in retained:
        props = own_properties(message.props) if peer.version == V5 else None
        if props is not None and sub.sub_id:
            props.subscription_ids = [sub.sub_id]
        flight = Flight(
            message.topic, message.payload, min(sub.qos, message.qos), True, props, None, None
        )
        chunks.append(peer.emit(flight))
    if chunks:
        peer.write(b"".join(chunks))
    if peer.expiry:
        peer.save()


async def _may_read(peer: MqttPeer, asked: Subscription) -> None:
    """Refuse a filter the user may not read; join a public room it names."""
    pattern = split_shared(asked.filter)[1]
    if pattern.startswith("$"):
        raise Refused(0x80, "Homer publishes no $ topics")
    head, _, rest = pattern.partition("/")
    if head in ("rooms", "users"):
        name, _, tail = rest.partition("/")
        if tail not in ("", "events", "#", "+"):
            raise Refused(0x8F, f"{head}/ has no topics like {pattern!r}")
        if name in ("", "+", "#"):
            return
        if head == "users":
            me = peer.session.user.name if peer.session is not None else ""
            if name_key(name) != name_key(me):
                raise Refused(0x87, "only your own users/<name> topics")
            return
        session = peer.session
        if session is not None and name not in session.rooms:
            await peer.op("join", room=name)
        return
    if head in ("+", "#"):
        return  # only what the user may read reaches it
    if not peer.server.config.free_topics:
        raise Refused(0x87, "topics outside rooms/ and users/ are off on this server")
    session = peer.session
    if session is None or not peer.server.may_filter(session.user, pattern):
        raise Refused(0x87, f"no permission to subscribe to {pattern}")


def _may_see(peer: MqttPeer, topic: str) -> bool:
    """Whether a retained message on ``topic`` is this user's to read."""
    target = target_of(topic)
    session = peer.session
    if session is None:
        return False
    if target.kind in ("room", "room_events"):
        return target.name in session.rooms
    if target.kind in ("user", "user_events"):
        return name_key(target.name) == name_key(session.user.name)
    return target.kind == "free" and peer.server.may(session.user, topic, "subscribe")


def unsubscribe(peer: MqttPeer, packet: Unsubscribe) -> None:
    reasons = []
    for filter_ in packet.filters:
        sub = peer.subs.pop(filter_, None)
        if sub is not None and sub.group is not None:
            peer.server.share((sub.group, sub.topic_filter), peer, False)
        reasons.append(0x00 if sub is not None else 0x11)
    peer.plans.clear()
    peer.fast.clear()
    peer.follow_free()
    peer.write(encode(UnsubAck(packet.packet_id, reasons), peer.version))
    if peer.expiry:
        peer.save()
