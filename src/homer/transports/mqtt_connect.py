"""Connecting an MQTT client: who it is (a password or a token), which session
(a new one, a kept one from the store, or one taken over from another
connection), the chat session behind it (``hello``, resuming each room where
the session stands), the limits both ways, and the ``CONNACK``; then what was
in flight goes again."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from typing import TYPE_CHECKING, Any, Final, cast

from homer.core.session import CloseCode
from homer.errors import HomerError, RateLimited
from homer.protocol.lifecycle import Timeouts
from homer.protocol.mqtt import V5, ConnAck, Connect, Properties, PubRel, encode
from homer.transports.framed import StreamFormat
from homer.transports.mqtt_routes import ERROR_REASONS, USERS, Sub, target_of
from homer.transports.mqtt_store import Flight, forget_session, load_session, session_key
from homer.transports.native import log_in

if TYPE_CHECKING:
    from homer.transports.mqtt import MqttPeer

__all__ = ["connect"]

#: The longest client id taken.
CLIENT_ID_MAX: Final = 256


def _refuse(peer: MqttPeer, v3: int, v5: int, reason: str) -> None:
    if peer.version == V5:
        props = Properties(reason_string=reason)
        peer.write(encode(ConnAck(v5, properties=props), V5))
    else:
        peer.write(encode(ConnAck(v3), peer.version))
    peer.close(CloseCode.UNAUTHENTICATED, reason)


async def connect(peer: MqttPeer, packet: Connect) -> None:
    server, config = peer.server, peer.server.config
    peer.version = packet.version
    v5 = packet.version == V5
    peer.fmt = cast(StreamFormat, server.text_formats[packet.version])
    props = packet.properties
    # -- who
    password = packet.password
    if password is None:
        _refuse(peer, 0x05, 0x87, "a user name and a password (or token) are needed")
        return
    try:
        secret = password.decode()
    except UnicodeDecodeError:
        _refuse(peer, 0x04, 0x86, "bad user name or password")
        return
    try:
        user, token = await log_in(peer, packet.username or "", secret)
    except RateLimited:
        _refuse(peer, 0x03, 0x9F, "too many login attempts: wait and try again")
        return
    except HomerError:
        _refuse(peer, 0x04, 0x86, "bad user name or password")
        return
    # -- which session
    client_id = packet.client_id
    assigned = None
    if not client_id:
        if not v5 and not packet.clean_start:
            _refuse(peer, 0x02, 0x85, "a persistent session needs a client id")
            return
        client_id = assigned = "homer-" + secrets.token_urlsafe(12)
    if len(client_id) > CLIENT_ID_MAX:
        _refuse(peer, 0x02, 0x85, f"a client id has at most {CLIENT_ID_MAX} characters")
        return
    if packet.will is not None and target_of(packet.will.topic).kind in ("system",):
        _refuse(peer, 0x05, 0x90, "a will's topic may not start with $")
        return
    peer.client_id = client_id
    peer.local_tag = hashlib.blake2s(client_id.encode(), digest_size=4).hexdigest()
    peer.cid_prefix = f"mqtt-{peer.local_tag}-{secrets.token_hex(3)}-"
    requested = (props.session_expiry or 0) if v5 else (0 if packet.clean_start else -1)
    if requested < 0 or requested >= 0xFFFFFFFF or requested > config.max_session_expiry:
        expiry = config.max_session_expiry
    else:
        expiry = requested
    key = peer.key = session_key(user.id, client_id)
    state: dict[str, Any] | None = None
    before = server.sessions.get(key)
    if before is not None and before is not peer:
        state = before.hand_over()
    will = server.wills.pop(key, None)
    if will is not None:
        will.cancel()
    saving = server.saving.get(key)
    if saving is not None:  # the last connection's session is being written
        with contextlib.suppress(Exception):
            await asyncio.shield(saving)
    if packet.clean_start:
        state = None
        await forget_session(peer.app, key)
    elif state is None:
        state = await load_session(peer.app, key)
        if state is not None and not expiry:
            # Taken up by a connection it ends with: nothing is kept after it.
            await forget_session(peer.app, key)
    # -- the chat session
    positions: dict[str, dict[str, int]] = {}
    if state is not None:
        for room, (epoch, seq) in (state.get("positions") or {}).items():
            positions[str(room)] = {"epoch": int(epoch), "seq": int(seq)}
    try:
        welcome = await peer.op("hello", token=token, client="mqtt", resume=positions)
    except HomerError as exc:
        _refuse(peer, 0x03, ERROR_REASONS.get(exc.code.value, 0x80), exc.message)
        return
    for info in welcome["rooms"]:
        peer.know_room(info)
    if state is not None:
        _restore(peer, state)
    # -- the limits both ways
    keep_alive = packet.keep_alive
    server_keep_alive = None
    if config.max_keep_alive and (keep_alive == 0 or keep_alive > config.max_keep_alive):
        keep_alive = server_keep_alive = config.max_keep_alive
    _keep_alive(peer, keep_alive)
    if v5:
        if props.receive_maximum:
            peer.window = min(peer.window, props.receive_maximum)
        peer.alias_max_out = props.topic_alias_maximum or 0
        peer.max_out = props.maximum_packet_size or 0
        peer.problems = props.request_problem_info != 0
    peer.expiry = expiry
    peer.will = packet.will
    server.sessions[key] = peer
    await server.taking_over(key, peer)
    ack_props = Properties()
    if v5:
        ack_props.receive_maximum = config.receive_maximum
        ack_props.topic_alias_maximum = config.topic_alias_maximum
        ack_props.maximum_packet_size = config.max_packet_size
        ack_props.assigned_client_id = assigned
        ack_props.server_keep_alive = server_keep_alive
        if props.request_response_info:
            # Where responses to this client can go: its own DMs.
            ack_props.response_info = USERS + user.name
        if expiry != requested:
            ack_props.session_expiry = expiry
    peer.write(encode(ConnAck(0, state is not None, ack_props), peer.version))
    peer.connected = True
    peer.keep_token()
    # What was in flight goes again, as it was (MQTT's rule on reconnection).
    for flight in list(peer.inflight.values()):
        if flight.released:
            peer.write(encode(PubRel(flight.packet_id), peer.version))
        else:
            peer.write(peer.publish_packet(flight, dup=True))
    peer.release_held()
    if expiry:
        peer.schedule_save()


def _keep_alive(peer: MqttPeer, seconds: int) -> None:
    """MQTT's keep-alive: the client speaks at least every ``seconds``; after one
    and a half of them in silence it is gone. The server never pings."""
    timeouts = peer.app.timeouts
    silence = seconds * 1.5 if seconds else float("inf")
    peer.lifecycle.timeouts = Timeouts(
        heartbeat=silence, heartbeat_timeout=0.0, handshake_timeout=timeouts.handshake_timeout
    )


def _restore(peer: MqttPeer, state: dict[str, Any]) -> None:
    for data in state.get("subs") or ():
        sub = Sub.from_json(data)
        peer.add_sub(sub)
    for data in state.get("inflight") or ():
        flight = Flight.restored(data)
        peer.inflight[flight.packet_id] = flight
        peer.next_pid = max(peer.next_pid, flight.packet_id)
    peer.inbound.qos2 = {int(pid) for pid in state.get("qos2_in") or ()}
    for room, (_, seq) in (state.get("positions") or {}).items():
        peer.positions[str(room)] = int(seq)
