"""MQTT control packets (3.1, 3.1.1 and 5.0): bytes in, packets out, and back. Sans-I/O.

A packet is a fixed header (its type and four flags in one byte, then the
remaining length as a varint of one to four bytes) and a body. :class:`PacketReader`
cuts a client's byte stream into packets and decodes them by the version its
CONNECT named; it refuses a packet larger than its limit as soon as the length
says so, without holding the body. :func:`encode` writes any packet, either
direction, in a given version; :func:`publish_bytes` is the fan-out's fast path
for PUBLISH. :func:`decode` reads one whole packet
of any kind (a client's view; the tests use it for what a server sends).

Errors (all :class:`MqttError`, each with the MQTT 5 reason code a server answers
with; after any of them the connection is to be closed):

- :class:`Malformed` (0x81): the bytes do not follow the format (a varint too long,
  reserved bits set, a string that is not UTF-8 or holds a NUL, bytes left over).
- :class:`ProtocolViolation` (0x82): well formed, but not allowed (a packet a server
  never receives, a second CONNECT, a wildcard in a topic name, a property out of
  place or out of range).
- :class:`PacketTooLarge` (0x95): past the reader's limit.
- :class:`UnsupportedVersion` (0x84): a CONNECT of a protocol we do not speak.

MQTT 3.1 (level 3, protocol name ``MQIsdp``) is read and written as 3.1.1. In 3.1.1
there are no properties and fewer reason codes: :func:`encode` drops what the format
cannot carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Final

from homer.protocol.mqtt_topics import split_shared, valid_filter, valid_topic

__all__ = [
    "ALLOWED_PROPERTIES",
    "MAX_PACKET",
    "REASONS",
    "V5",
    "V31",
    "V311",
    "Auth",
    "ConnAck",
    "Connect",
    "Disconnect",
    "Malformed",
    "MqttError",
    "Packet",
    "PacketReader",
    "PacketTooLarge",
    "PingReq",
    "PingResp",
    "Properties",
    "ProtocolViolation",
    "PubAck",
    "PubComp",
    "PubRec",
    "PubRel",
    "Publish",
    "SubAck",
    "Subscribe",
    "Subscription",
    "UnsubAck",
    "Unsubscribe",
    "UnsupportedVersion",
    "Will",
    "decode",
    "encode",
    "publish_bytes",
]

#: Protocol levels: MQTT 3.1 (``MQIsdp``), 3.1.1 and 5.0.
V31: Final = 3
V311: Final = 4
V5: Final = 5
#: The largest remaining length a four-byte varint can say.
MAX_PACKET: Final = 268_435_455

#: MQTT 5 reason codes by value, for logs and documentation.
REASONS: Final[dict[int, str]] = {
    0x00: "Success",
    0x01: "Granted QoS 1",
    0x02: "Granted QoS 2",
    0x04: "Disconnect with Will Message",
    0x10: "No matching subscribers",
    0x11: "No subscription existed",
    0x18: "Continue authentication",
    0x19: "Re-authenticate",
    0x80: "Unspecified error",
    0x81: "Malformed Packet",
    0x82: "Protocol Error",
    0x83: "Implementation specific error",
    0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid",
    0x86: "Bad User Name or Password",
    0x87: "Not authorized",
    0x88: "Server unavailable",
    0x89: "Server busy",
    0x8A: "Banned",
    0x8B: "Server shutting down",
    0x8C: "Bad authentication method",
    0x8D: "Keep Alive timeout",
    0x8E: "Session taken over",
    0x8F: "Topic Filter invalid",
    0x90: "Topic Name invalid",
    0x91: "Packet Identifier in use",
    0x92: "Packet Identifier not found",
    0x93: "Receive Maximum exceeded",
    0x94: "Topic Alias invalid",
    0x95: "Packet too large",
    0x96: "Message rate too high",
    0x97: "Quota exceeded",
    0x98: "Administrative action",
    0x99: "Payload format invalid",
    0x9A: "Retain not supported",
    0x9B: "QoS not supported",
    0x9C: "Use another server",
    0x9D: "Server moved",
    0x9E: "Shared Subscriptions not supported",
    0x9F: "Connection rate exceeded",
    0xA0: "Maximum connect time",
    0xA1: "Subscription Identifiers not supported",
    0xA2: "Wildcard Subscriptions not supported",
}


class MqttError(Exception):
    """A packet that cannot be taken; the connection is to be closed. ``reason`` is
    the MQTT 5 reason code for the DISCONNECT (or CONNACK) that says why."""

    reason: int = 0x80

    def __init__(self, message: str) -> None:
        super().__init__(message)


class Malformed(MqttError):
    """The bytes do not follow the packet's format."""

    reason = 0x81


class ProtocolViolation(MqttError):
    """Well formed, but not allowed here."""

    reason = 0x82


class PacketTooLarge(MqttError):
    """Larger than the reader's limit."""

    reason = 0x95


class UnsupportedVersion(MqttError):
    """A CONNECT of a protocol level or name we do not speak (``version`` is its
    level): the server answers CONNACK 0x84 (5) or return code 1 (3.1.1)."""

    reason = 0x84

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


# -- properties ---------------------------------------------------------------------------

_BYTE, _U16, _U32, _VARINT, _STRING, _BINARY, _PAIR = range(7)


@dataclass(slots=True)
class Properties:
    """Every MQTT 5 property; each packet allows some (:data:`ALLOWED_PROPERTIES`)."""

    payload_format: int | None = None
    message_expiry: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_ids: list[int] = field(default_factory=list)
    session_expiry: int | None = None
    assigned_client_id: str | None = None
    server_keep_alive: int | None = None
    auth_method: str | None = None
    auth_data: bytes | None = None
    request_problem_info: int | None = None
    will_delay: int | None = None
    request_response_info: int | None = None
    response_info: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: list[tuple[str, str]] = field(default_factory=list)
    maximum_packet_size: int | None = None
    wildcard_available: int | None = None
    subscription_ids_available: int | None = None
    shared_available: int | None = None


#: Identifier: (field, type, least value). Booleans and the two QoS-like bytes are
#: checked against ``_MOST`` too.
_PROPERTY: Final[dict[int, tuple[str, int, int]]] = {
    0x01: ("payload_format", _BYTE, 0),
    0x02: ("message_expiry", _U32, 0),
    0x03: ("content_type", _STRING, 0),
    0x08: ("response_topic", _STRING, 0),
    0x09: ("correlation_data", _BINARY, 0),
    0x0B: ("subscription_ids", _VARINT, 1),
    0x11: ("session_expiry", _U32, 0),
    0x12: ("assigned_client_id", _STRING, 0),
    0x13: ("server_keep_alive", _U16, 0),
    0x15: ("auth_method", _STRING, 0),
    0x16: ("auth_data", _BINARY, 0),
    0x17: ("request_problem_info", _BYTE, 0),
    0x18: ("will_delay", _U32, 0),
    0x19: ("request_response_info", _BYTE, 0),
    0x1A: ("response_info", _STRING, 0),
    0x1C: ("server_reference", _STRING, 0),
    0x1F: ("reason_string", _STRING, 0),
    0x21: ("receive_maximum", _U16, 1),
    0x22: ("topic_alias_maximum", _U16, 0),
    0x23: ("topic_alias", _U16, 1),
    0x24: ("maximum_qos", _BYTE, 0),
    0x25: ("retain_available", _BYTE, 0),
    0x26: ("user_properties", _PAIR, 0),
    0x27: ("maximum_packet_size", _U32, 1),
    0x28: ("wildcard_available", _BYTE, 0),
    0x29: ("subscription_ids_available", _BYTE, 0),
    0x2A: ("shared_available", _BYTE, 0),
}
_ID: Final = {name: ident for ident, (name, _, _) in _PROPERTY.items()}
#: Every byte property is a boolean (0 or 1), maximum QoS included (it is 0 or 1).
_MOST_BYTE: Final = 1


# -- packets ------------------------------------------------------------------------------


@dataclass(slots=True)
class Will:
    """The message a server publishes for a client that goes without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class Connect:
    version: int
    client_id: str
    clean_start: bool = True
    keep_alive: int = 0
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class ConnAck:
    """``reason`` is the 3.1.1 return code (0 to 5) in 3.1.1."""

    reason: int = 0
    session_present: bool = False
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class Publish:
    """``topic`` may be empty in MQTT 5 when a topic alias stands for it."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class _Ack:
    """What the four acknowledgements of a QoS 1 or 2 flow hold alike."""

    packet_id: int
    reason: int = 0
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class PubAck(_Ack):
    """QoS 1: the message is stored (or refused, with its reason)."""


@dataclass(slots=True)
class PubRec(_Ack):
    """QoS 2, first answer: the message is stored (or refused)."""


@dataclass(slots=True)
class PubRel(_Ack):
    """QoS 2: the publisher lets the receiver release the packet id."""


@dataclass(slots=True)
class PubComp(_Ack):
    """QoS 2, last answer: the packet id is free again."""


@dataclass(slots=True)
class Subscription:
    """One filter of a SUBSCRIBE with its options (all but ``qos`` are MQTT 5's)."""

    filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(slots=True)
class Subscribe:
    packet_id: int
    subscriptions: list[Subscription]
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class SubAck:
    packet_id: int
    reasons: list[int]
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class Unsubscribe:
    packet_id: int
    filters: list[str]
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class UnsubAck:
    """``reasons`` is empty in 3.1.1, whose UNSUBACK has none."""

    packet_id: int
    reasons: list[int]
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class PingReq:
    pass


@dataclass(slots=True)
class PingResp:
    pass


@dataclass(slots=True)
class Disconnect:
    reason: int = 0
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class Auth:
    """MQTT 5 only."""

    reason: int = 0
    properties: Properties = field(default_factory=Properties)


Packet = (
    Connect
    | ConnAck
    | Publish
    | PubAck
    | PubRec
    | PubRel
    | PubComp
    | Subscribe
    | SubAck
    | Unsubscribe
    | UnsubAck
    | PingReq
    | PingResp
    | Disconnect
    | Auth
)

_CONNECT, _CONNACK, _PUBLISH, _PUBACK, _PUBREC, _PUBREL, _PUBCOMP = range(1, 8)
_SUBSCRIBE, _SUBACK, _UNSUBSCRIBE, _UNSUBACK, _PINGREQ, _PINGRESP = range(8, 14)
_DISCONNECT, _AUTH = 14, 15
_ACKS: Final[dict[int, type[PubAck | PubRec | PubRel | PubComp]]] = {
    _PUBACK: PubAck,
    _PUBREC: PubRec,
    _PUBREL: PubRel,
    _PUBCOMP: PubComp,
}
_TYPE: Final[dict[type, int]] = {
    Connect: _CONNECT,
    ConnAck: _CONNACK,
    Publish: _PUBLISH,
    PubAck: _PUBACK,
    PubRec: _PUBREC,
    PubRel: _PUBREL,
    PubComp: _PUBCOMP,
    Subscribe: _SUBSCRIBE,
    SubAck: _SUBACK,
    Unsubscribe: _UNSUBSCRIBE,
    UnsubAck: _UNSUBACK,
    PingReq: _PINGREQ,
    PingResp: _PINGRESP,
    Disconnect: _DISCONNECT,
    Auth: _AUTH,
}
#: Packets only a server sends: a server refuses them from a client.
_SERVER_ONLY: Final = frozenset({_CONNACK, _SUBACK, _UNSUBACK, _PINGRESP})
#: Packet names, for error messages.
_NAMES: Final = {code: kind.__name__.upper() for kind, code in _TYPE.items()}

_ALL_ACK = frozenset({"reason_string", "user_properties"})
#: The properties each packet (and a CONNECT's will) may carry, by field name.
ALLOWED_PROPERTIES: Final[dict[type, frozenset[str]]] = {
    Connect: frozenset(
        {
            "session_expiry",
            "auth_method",
            "auth_data",
            "request_problem_info",
            "request_response_info",
            "receive_maximum",
            "topic_alias_maximum",
            "user_properties",
            "maximum_packet_size",
        }
    ),
    Will: frozenset(
        {
            "payload_format",
            "message_expiry",
            "content_type",
            "response_topic",
            "correlation_data",
            "will_delay",
            "user_properties",
        }
    ),
    ConnAck: frozenset(
        {
            "session_expiry",
            "assigned_client_id",
            "server_keep_alive",
            "auth_method",
            "auth_data",
            "response_info",
            "server_reference",
            "reason_string",
            "receive_maximum",
            "topic_alias_maximum",
            "maximum_qos",
            "retain_available",
            "user_properties",
            "maximum_packet_size",
            "wildcard_available",
            "subscription_ids_available",
            "shared_available",
        }
    ),
    Publish: frozenset(
        {
            "payload_format",
            "message_expiry",
            "content_type",
            "response_topic",
            "correlation_data",
            "subscription_ids",
            "topic_alias",
            "user_properties",
        }
    ),
    PubAck: _ALL_ACK,
    PubRec: _ALL_ACK,
    PubRel: _ALL_ACK,
    PubComp: _ALL_ACK,
    Subscribe: frozenset({"subscription_ids", "user_properties"}),
    SubAck: _ALL_ACK,
    Unsubscribe: frozenset({"user_properties"}),
    UnsubAck: _ALL_ACK,
    Disconnect: frozenset(
        {"session_expiry", "server_reference", "reason_string", "user_properties"}
    ),
    Auth: frozenset({"auth_method", "auth_data", "reason_string", "user_properties"}),
}
_ALLOWED_IDS: Final = {
    kind: frozenset(_ID[name] for name in names) for kind, names in ALLOWED_PROPERTIES.items()
}


# -- reading ------------------------------------------------------------------------------


class _Cursor:
    """Reads a packet's body from the front; running past its end is Malformed."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int, end: int) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end

    def take(self, size: int) -> bytes:
        pos = self.pos
        if pos + size > self.end:
            raise Malformed("the packet ends in the middle of a field")
        self.pos = pos + size
        return self.buf[pos : pos + size]

    def byte(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise Malformed("the packet ends in the middle of a field")
        self.pos = pos + 1
        return self.buf[pos]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def varint(self) -> int:
        value = 0
        for shift in (0, 7, 14, 21):
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
        raise Malformed("a variable byte integer longer than four bytes")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        raw = self.take(self.u16())
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise Malformed("a string that is not UTF-8") from None
        if "\0" in text:
            raise Malformed("a string with a NUL character in it")
        return text

    def packet_id(self) -> int:
        value = self.u16()
        if value == 0:
            raise Malformed("a packet identifier of 0")
        return value

    def rest(self) -> bytes:
        data = self.buf[self.pos : self.end]
        self.pos = self.end
        return data

    def left(self) -> int:
        return self.end - self.pos

    def done(self, what: str) -> None:
        if self.pos != self.end:
            raise Malformed(f"bytes left over at the end of a {what}")


def _read_properties(cur: _Cursor, kind: type) -> Properties:
    """The property list at the cursor, refusing any ``kind`` may not carry, any
    repeated (but user properties and a PUBLISH's subscription ids), and values the
    specification puts out of range."""
    size = cur.varint()
    props = Properties()
    if size == 0:
        return props
    end = cur.pos + size
    if end > cur.end:
        raise Malformed("a property list longer than its packet")
    inner = _Cursor(cur.buf, cur.pos, end)
    cur.pos = end
    allowed = _ALLOWED_IDS[kind]
    seen: set[int] = set()
    while inner.pos < end:
        ident = inner.varint()
        spec = _PROPERTY.get(ident)
        if spec is None:
            raise Malformed(f"an unknown property 0x{ident:02X}")
        name, shape, least = spec
        if ident not in allowed:
            raise ProtocolViolation(f"property {name} is not allowed in {kind.__name__.upper()}")
        if ident in seen and ident != 0x26 and not (ident == 0x0B and kind is Publish):
            raise ProtocolViolation(f"property {name} given twice")
        seen.add(ident)
        if shape == _STRING:
            setattr(props, name, inner.string())
            continue
        if shape == _BINARY:
            setattr(props, name, inner.binary())
            continue
        if shape == _PAIR:
            props.user_properties.append((inner.string(), inner.string()))
            continue
        if shape == _BYTE:
            number = inner.byte()
            if number > _MOST_BYTE:
                raise ProtocolViolation(f"property {name} must be 0 or 1, not {number}")
        elif shape == _U16:
            number = inner.u16()
        elif shape == _U32:
            number = inner.u32()
        else:
            number = inner.varint()
        if number < least:
            raise ProtocolViolation(f"property {name} may not be {number}")
        if shape == _VARINT:
            props.subscription_ids.append(number)
        else:
            setattr(props, name, number)
    return props


def _connect(cur: _Cursor) -> Connect:
    try:
        name = cur.string()
        level = cur.byte()
    except Malformed:
        raise UnsupportedVersion("not an MQTT CONNECT", 0) from None
    if not ((name == "MQTT" and level in (V311, V5)) or (name == "MQIsdp" and level == V31)):
        raise UnsupportedVersion(f"protocol {name[:16]!r} level {level} is not spoken here", level)
    flags = cur.byte()
    if flags & 0x01:
        raise Malformed("the reserved CONNECT flag is set")
    has_will = bool(flags & 0x04)
    will_qos = (flags >> 3) & 0x03
    will_retain = bool(flags & 0x20)
    if will_qos == 3:
        raise Malformed("a will of QoS 3")
    if not has_will and (will_qos or will_retain):
        raise Malformed("will QoS or retain set without a will")
    has_password, has_username = bool(flags & 0x40), bool(flags & 0x80)
    if has_password and not has_username and level != V5:
        raise Malformed("a password without a user name")
    keep_alive = cur.u16()
    v5 = level == V5
    props = _read_properties(cur, Connect) if v5 else Properties()
    client_id = cur.string()
    will = None
    if has_will:
        will_props = _read_properties(cur, Will) if v5 else Properties()
        topic = cur.string()
        if not valid_topic(topic):
            raise ProtocolViolation("the will's topic is not a valid topic name")
        will = Will(topic, cur.binary(), will_qos, will_retain, will_props)
    username = cur.string() if has_username else None
    password = cur.binary() if has_password else None
    cur.done("CONNECT")
    return Connect(
        level, client_id, bool(flags & 0x02), keep_alive, username, password, will, props
    )


def _publish(cur: _Cursor, flags: int, v5: bool) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise Malformed("a PUBLISH of QoS 3")
    dup = bool(flags & 0x08)
    if dup and not qos:
        raise Malformed("DUP set on a PUBLISH of QoS 0")
    topic = cur.string()
    packet_id = cur.packet_id() if qos else None
    props = _read_properties(cur, Publish) if v5 else Properties()
    if not valid_topic(topic) and not (v5 and topic == "" and props.topic_alias is not None):
        raise ProtocolViolation(f"a PUBLISH to {topic[:64]!r}, which is not a topic name")
    return Publish(topic, cur.rest(), qos, bool(flags & 0x01), dup, packet_id, props)


def _subscribe(cur: _Cursor, v5: bool) -> Subscribe:
    packet_id = cur.packet_id()
    props = _read_properties(cur, Subscribe) if v5 else Properties()
    subs: list[Subscription] = []
    while cur.left():
        topic_filter = cur.string()
        options = cur.byte()
        if options & (0xC0 if v5 else 0xFC):
            raise Malformed("reserved subscription option bits are set")
        qos, retain_handling = options & 0x03, (options >> 4) & 0x03
        if qos == 3 or retain_handling == 3:
            raise Malformed("a subscription of QoS 3 or retain handling 3")
        if not valid_filter(topic_filter):
            raise ProtocolViolation(f"{topic_filter[:64]!r} is not a topic filter")
        no_local = bool(options & 0x04)
        if no_local and split_shared(topic_filter)[0] is not None:
            raise ProtocolViolation("no local on a shared subscription")
        subs.append(
            Subscription(topic_filter, qos, no_local, bool(options & 0x08), retain_handling)
        )
    if not subs:
        raise ProtocolViolation("a SUBSCRIBE without a topic filter")
    return Subscribe(packet_id, subs, props)


def _unsubscribe(cur: _Cursor, v5: bool) -> Unsubscribe:
    packet_id = cur.packet_id()
    props = _read_properties(cur, Unsubscribe) if v5 else Properties()
    filters: list[str] = []
    while cur.left():
        topic_filter = cur.string()
        if not valid_filter(topic_filter):
            raise ProtocolViolation(f"{topic_filter[:64]!r} is not a topic filter")
        filters.append(topic_filter)
    if not filters:
        raise ProtocolViolation("an UNSUBSCRIBE without a topic filter")
    return Unsubscribe(packet_id, filters, props)


def _body(kind: int, flags: int, cur: _Cursor, version: int) -> Packet:
    """The packet of type ``kind`` in ``cur``, in ``version`` (taken from the packet
    itself for a CONNECT). Checks the fixed header's flags first."""
    v5 = version == V5
    if kind == _PUBLISH:
        return _publish(cur, flags, v5)
    expected = 0x02 if kind in (_PUBREL, _SUBSCRIBE, _UNSUBSCRIBE) else 0
    if kind == 0 or (kind == _AUTH and not v5):
        raise Malformed(f"packet type {kind} is reserved")
    if flags != expected:
        raise Malformed(f"reserved flags of a {_NAMES[kind]} are not 0b{expected:04b}")
    packet: Packet
    if kind == _CONNECT:
        return _connect(cur)
    if kind in _ACKS:
        ack = _ACKS[kind]
        packet_id = cur.packet_id()
        reason = 0
        props = Properties()
        if v5 and cur.left():
            reason = cur.byte()
            if cur.left():
                props = _read_properties(cur, ack)
        packet = ack(packet_id, reason, props)
    elif kind == _SUBSCRIBE:
        packet = _subscribe(cur, v5)
    elif kind == _UNSUBSCRIBE:
        packet = _unsubscribe(cur, v5)
    elif kind in (_PINGREQ, _PINGRESP):
        packet = PingReq() if kind == _PINGREQ else PingResp()
    elif kind in (_DISCONNECT, _AUTH):
        reason = 0
        props = Properties()
        if v5 and cur.left():
            reason = cur.byte()
            if cur.left():
                props = _read_properties(cur, Disconnect if kind == _DISCONNECT else Auth)
        packet = Disconnect(reason, props) if kind == _DISCONNECT else Auth(reason, props)
    elif kind == _CONNACK:
        ack_flags = cur.byte()
        if ack_flags & 0xFE:
            raise Malformed("reserved CONNACK flags are set")
        reason = cur.byte()
        props = _read_properties(cur, ConnAck) if v5 else Properties()
        packet = ConnAck(reason, bool(ack_flags), props)
    elif kind == _SUBACK:
        packet_id = cur.packet_id()
        props = _read_properties(cur, SubAck) if v5 else Properties()
        packet = SubAck(packet_id, list(cur.rest()), props)
    else:  # UNSUBACK
        packet_id = cur.packet_id()
        props = _read_properties(cur, UnsubAck) if v5 else Properties()
        packet = UnsubAck(packet_id, list(cur.rest()) if v5 else [], props)
    cur.done(_NAMES[kind])
    return packet


def _header(buf: bytes | bytearray, start: int, end: int) -> tuple[int, int] | None:
    """``(size of the fixed header, remaining length)`` of the packet at ``start``,
    or ``None`` while the header is incomplete."""
    value = 0
    for index, shift in enumerate((0, 7, 14, 21)):
        at = start + 1 + index
        if at >= end:
            return None
        byte = buf[at]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return index + 2, value
    raise Malformed("a remaining length longer than four bytes")


def decode(data: bytes, version: int) -> Packet:
    """One whole packet of any kind, as a client reads it (``version`` for all but a
    CONNECT, which says its own)."""
    head = _header(data, 0, len(data))
    if head is None:
        raise Malformed("the packet ends in its fixed header")
    size, remaining = head
    if size + remaining != len(data):
        raise Malformed("the remaining length does not match the packet")
    return _body(data[0] >> 4, data[0] & 0x0F, _Cursor(data, size, len(data)), version)


class PacketReader:
    """Cuts a client's byte stream into packets (sans-I/O: feed bytes, get packets).

    :meth:`feed` returns each completed packet, or the :class:`MqttError` that ends
    the stream, in order; after an error the reader is dead and returns nothing
    more. The first packet must be a CONNECT, whose version decides how the rest
    is read. A packet larger than ``max_size`` (fixed header included, as MQTT 5's
    Maximum Packet Size counts) is refused as soon as its length arrives, so the
    reader never holds more than ``max_size`` bytes.
    """

    __slots__ = ("_dead", "_need", "_pending", "max_size", "version")

    def __init__(self, max_size: int = MAX_PACKET) -> None:
        self.max_size = max_size
        #: The version the CONNECT named; None before it.
        self.version: int | None = None
        self._pending = bytearray()
        #: The size of the packet in ``_pending`` once its header is known, else 0.
        self._need = 0
        self._dead = False

    def feed(self, data: bytes) -> list[Packet | MqttError]:
        if self._dead:
            return []
        out: list[Packet | MqttError] = []
        try:
            self._feed(data, out)
        except MqttError as exc:
            out.append(exc)
            self._dead = True
            self._pending = bytearray()
            self._need = 0
        return out

    def _feed(self, data: bytes, out: list[Packet | MqttError]) -> None:
        pending = self._pending
        pos, end = 0, len(data)
        if pending:
            # Complete the packet begun earlier, taking from ``data`` only its bytes.
            while not self._need and pos < end:
                pending.append(data[pos])
                pos += 1
                self._need = self._size(pending, 0, len(pending))
            if not self._need:
                return
            take = min(self._need - len(pending), end - pos)
            pending += data[pos : pos + take]
            pos += take
            if len(pending) < self._need:
                return
            whole = bytes(pending)
            pending.clear()
            self._need = 0
            out.append(self._decode(whole, 0, len(whole)))
        while pos < end:
            size = self._size(data, pos, end)
            if not size or pos + size > end:
                pending += data[pos:]
                self._need = size
                return
            out.append(self._decode(data, pos, pos + size))
            pos += size

    def _size(self, buf: bytes | bytearray, start: int, end: int) -> int:
        """The whole size of the packet at ``start``, or 0 while its header is
        incomplete; refuses at once what cannot come first or is too large."""
        if self.version is None and buf[start] >> 4 != _CONNECT:
            raise ProtocolViolation("the first packet must be a CONNECT")
        head = _header(buf, start, end)
        if head is None:
            return 0
        size = head[0] + head[1]
        if size > self.max_size:
            raise PacketTooLarge(f"a packet of {size} bytes, more than {self.max_size}")
        return size

    def _decode(self, buf: bytes, start: int, end: int) -> Packet:
        first = buf[start]
        kind = first >> 4
        head = _header(buf, start, end)
        assert head is not None
        cur = _Cursor(buf, start + head[0], end)
        if self.version is None:
            packet = _body(kind, first & 0x0F, cur, V311)
            assert isinstance(packet, Connect)
            self.version = packet.version
            return packet
        if kind == _CONNECT:
            raise ProtocolViolation("a second CONNECT")
        if kind in _SERVER_ONLY:
            raise ProtocolViolation(f"a server does not receive {_NAMES[kind]}")
        return _body(kind, first & 0x0F, cur, self.version)


# -- writing ------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _binary(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


_NO_PROPERTIES: Final = b"\x00"
_ORDER: Final = [(ident, name, shape) for ident, (name, shape, _) in sorted(_PROPERTY.items())]
#: Every property at once, in ``_ORDER``: one C call, and most lists are empty.
_VALUES: Final = attrgetter(*[name for _, name, _ in _ORDER])
_EMPTY_VALUES: Final = _VALUES(Properties())


def _properties(props: Properties) -> bytes:
    """The property list, its length first."""
    values = _VALUES(props)
    if values == _EMPTY_VALUES:
        return _NO_PROPERTIES
    out = bytearray()
    for (ident, _, shape), value in zip(_ORDER, values, strict=True):
        if shape == _PAIR:
            for key, item in value:
                out.append(ident)
                out += _string(key) + _string(item)
        elif shape == _VARINT:
            for item in value:
                out.append(ident)
                out += _varint(item)
        elif value is None:
            continue
        else:
            out.append(ident)
            if shape == _BYTE:
                out.append(value)
            elif shape == _U16:
                out += value.to_bytes(2, "big")
            elif shape == _U32:
                out += value.to_bytes(4, "big")
            elif shape == _STRING:
                out += _string(value)
            else:
                out += _binary(value)
    return _varint(len(out)) + out


def _has_properties(props: Properties) -> bool:
    return _properties(props) != _NO_PROPERTIES


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _varint(len(body)) + body


def _connect_body(packet: Connect) -> bytes:
    v5 = packet.version == V5
    name = "MQIsdp" if packet.version == V31 else "MQTT"
    flags = 0x02 if packet.clean_start else 0
    will = packet.will
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    if packet.password is not None:
        flags |= 0x40
    if packet.username is not None:
        flags |= 0x80
    out = bytearray(_string(name))
    out += bytes((packet.version, flags))
    out += packet.keep_alive.to_bytes(2, "big")
    if v5:
        out += _properties(packet.properties)
    out += _string(packet.client_id)
    if will is not None:
        if v5:
            out += _properties(will.properties)
        out += _string(will.topic) + _binary(will.payload)
    if packet.username is not None:
        out += _string(packet.username)
    if packet.password is not None:
        out += _binary(packet.password)
    return bytes(out)


def encode(packet: Packet, version: int) -> bytes:
    """``packet`` as it goes on the wire in ``version`` (a CONNECT in the version it
    names). What 3.1.1 cannot carry (properties, most reason codes) is left out; in
    5 an acknowledgement's reason and properties are left out when they say nothing."""
    v5 = version == V5
    if isinstance(packet, Publish):
        return publish_bytes(
            packet.topic,
            packet.payload,
            version,
            qos=packet.qos,
            retain=packet.retain,
            dup=packet.dup,
            packet_id=packet.packet_id,
            properties=packet.properties,
        )
    kind = _TYPE[type(packet)]
    first = kind << 4 | (0x02 if kind in (_PUBREL, _SUBSCRIBE, _UNSUBSCRIBE) else 0)
    body: bytes
    if isinstance(packet, Connect):
        body = _connect_body(packet)
    elif isinstance(packet, PubAck | PubRec | PubRel | PubComp):
        body = packet.packet_id.to_bytes(2, "big")
        if v5 and (packet.reason or _has_properties(packet.properties)):
            body += bytes((packet.reason,))
            if _has_properties(packet.properties):
                body += _properties(packet.properties)
    elif isinstance(packet, Subscribe):
        parts = [packet.packet_id.to_bytes(2, "big")]
        if v5:
            parts.append(_properties(packet.properties))
        for sub in packet.subscriptions:
            options = sub.qos
            if v5:
                options |= (
                    (0x04 if sub.no_local else 0)
                    | (0x08 if sub.retain_as_published else 0)
                    | sub.retain_handling << 4
                )
            parts.append(_string(sub.filter) + bytes((options,)))
        body = b"".join(parts)
    elif isinstance(packet, Unsubscribe):
        parts = [packet.packet_id.to_bytes(2, "big")]
        if v5:
            parts.append(_properties(packet.properties))
        parts += [_string(item) for item in packet.filters]
        body = b"".join(parts)
    elif isinstance(packet, SubAck | UnsubAck):
        body = packet.packet_id.to_bytes(2, "big")
        if v5:
            body += _properties(packet.properties) + bytes(packet.reasons)
        elif isinstance(packet, SubAck):
            body += bytes(packet.reasons)
    elif isinstance(packet, ConnAck):
        body = bytes((1 if packet.session_present else 0, packet.reason))
        if v5:
            body += _properties(packet.properties)
    elif isinstance(packet, Disconnect | Auth):
        body = b""
        if isinstance(packet, Auth) and not v5:
            raise ValueError("AUTH exists only in MQTT 5")
        has_props = _has_properties(packet.properties)
        if v5 and (packet.reason or has_props):
            body = bytes((packet.reason,))
            if has_props or isinstance(packet, Auth):
                body += _properties(packet.properties)
    else:  # PINGREQ, PINGRESP
        body = b""
    return _packet(first, body)


def _publish_head(
    topic: str, payload: bytes, version: int, qos: int, retain: bool, dup: bool, props: bytes
) -> bytes:
    """The fixed header and topic of a PUBLISH, up to where its packet id goes."""
    raw = topic.encode()
    first = 0x30 | (0x08 if dup else 0) | qos << 1 | (0x01 if retain else 0)
    remaining = (4 if qos else 2) + len(raw) + len(props) + len(payload)
    return b"".join((bytes((first,)), _varint(remaining), len(raw).to_bytes(2, "big"), raw))


def _publish_properties(version: int, properties: Properties | None) -> bytes:
    if version != V5:
        return b""
    return _NO_PROPERTIES if properties is None else _properties(properties)


def publish_bytes(
    topic: str,
    payload: bytes,
    version: int,
    *,
    qos: int = 0,
    retain: bool = False,
    dup: bool = False,
    packet_id: int | None = None,
    properties: Properties | None = None,
) -> bytes:
    """A PUBLISH as it goes on the wire, built without a :class:`Publish` (it is
    written once per subscriber on a fan-out)."""
    props = _publish_properties(version, properties)
    head = _publish_head(topic, payload, version, qos, retain, dup, props)
    if not qos:
        return b"".join((head, props, payload))
    if packet_id is None:
        raise ValueError("a PUBLISH of QoS 1 or 2 needs a packet identifier")
    return b"".join((head, packet_id.to_bytes(2, "big"), props, payload))
