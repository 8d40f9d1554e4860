"""MQTT packets: byte vectors written out from the specifications (3.1.1 and 5.0), every
refusal a server must make, the reader's limit, and round trips of any valid packet
however its bytes are cut."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homer.protocol.mqtt import (
    ALLOWED_PROPERTIES,
    MAX_PACKET,
    REASONS,
    V5,
    V31,
    V311,
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Malformed,
    MqttError,
    Packet,
    PacketReader,
    PacketTooLarge,
    PingReq,
    PingResp,
    Properties,
    ProtocolViolation,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    UnsupportedVersion,
    Will,
    decode,
    encode,
    publish_bytes,
)


def h(text: str) -> bytes:
    """Bytes written as hex with spaces, and ``'quoted'`` ASCII in between."""
    out = bytearray()
    for index, part in enumerate(text.split("'")):
        out += part.encode() if index % 2 else bytes.fromhex(part)
    return bytes(out)


CONNECT_311 = h("10 0c 00 04 'MQTT' 04 02 00 3c 00 00")
CONNECT_5 = h("10 0d 00 04 'MQTT' 05 02 00 3c 00 00 00")
CONNECTS = {V311: CONNECT_311, V5: CONNECT_5}


def first_of(data: bytes, version: int = V311) -> Packet | MqttError:
    """What a reader makes of ``data`` after a CONNECT of ``version``."""
    reader = PacketReader()
    connect, *rest = reader.feed(CONNECTS[version] + data)
    assert isinstance(connect, Connect)
    assert len(rest) == 1, rest
    return rest[0]


# -- vectors ------------------------------------------------------------------------------

#: (version, bytes, packet): each decodes to the packet, and the packet encodes to them.
VECTORS: list[tuple[int, bytes, Packet]] = [
    (
        V311,
        h(
            "10 23 00 04 'MQTT' 04 ee 00 3c 00 03 'abc'"
            " 00 03 'a/b' 00 03 'bye' 00 04 'user' 00 02 'pw'"
        ),
        Connect(V311, "abc", True, 60, "user", b"pw", Will("a/b", b"bye", 1, True)),
    ),
    (V31, h("10 11 00 06 'MQIsdp' 03 02 00 3c 00 03 'abc'"), Connect(V31, "abc", True, 60)),
    (V311, h("10 0c 00 04 'MQTT' 04 00 00 00 00 00"), Connect(V311, "", False, 0)),
    (
        V5,
        h(
            "10 42 00 04 'MQTT' 05 c6 00 3c"
            " 0f 11 00 00 00 0a 21 00 14 26 00 01 'k' 00 01 'v'"
            " 00 03 'abc'"
            " 0e 01 01 03 00 04 'text' 18 00 00 00 05"
            " 00 03 'a/b' 00 03 'bye' 00 04 'user' 00 02 'pw'"
        ),
        Connect(
            V5,
            "abc",
            True,
            60,
            "user",
            b"pw",
            Will(
                "a/b",
                b"bye",
                properties=Properties(payload_format=1, content_type="text", will_delay=5),
            ),
            Properties(session_expiry=10, receive_maximum=20, user_properties=[("k", "v")]),
        ),
    ),
    (V5, h("10 0f 00 04 'MQTT' 05 40 00 00 00 00 00 00 00"), Connect(V5, "", False, password=b"")),
    (V311, h("20 02 01 00"), ConnAck(0, True)),
    (V311, h("20 02 00 05"), ConnAck(5)),
    (V5, h("20 03 00 00 00"), ConnAck()),
    (
        V5,
        h("20 08 00 00 05 22 00 0a 24 01"),
        ConnAck(properties=Properties(topic_alias_maximum=10, maximum_qos=1)),
    ),
    (V311, h("30 0a 00 03 'a/b' 'hello'"), Publish("a/b", b"hello")),
    (V311, h("32 0c 00 03 'a/b' 00 07 'hello'"), Publish("a/b", b"hello", 1, packet_id=7)),
    (
        V311,
        h("3d 0c 00 03 'a/b' 00 07 'hello'"),
        Publish("a/b", b"hello", 2, True, True, 7),
    ),
    (V311, h("31 05 00 03 'a/b'"), Publish("a/b", b"", retain=True)),
    (V5, h("30 0b 00 03 'a/b' 00 'hello'"), Publish("a/b", b"hello")),
    (
        V5,
        h(
            "32 29 00 03 'a/b' 00 07"
            " 1c 01 01 02 00 00 00 3c 08 00 01 'r' 09 00 02 01 02 0b 05 23 00 01"
            " 26 00 01 'k' 00 01 'v' 'hello'"
        ),
        Publish(
            "a/b",
            b"hello",
            1,
            packet_id=7,
            properties=Properties(
                payload_format=1,
                message_expiry=60,
                response_topic="r",
                correlation_data=b"\x01\x02",
                subscription_ids=[5],
                topic_alias=1,
                user_properties=[("k", "v")],
            ),
        ),
    ),
    (
        V5,
        h("34 09 00 00 00 07 03 23 00 01 'x'"),
        Publish("", b"x", 2, packet_id=7, properties=Properties(topic_alias=1)),
    ),
    (V311, h("40 02 00 07"), PubAck(7)),
    (V311, h("50 02 00 07"), PubRec(7)),
    (V311, h("62 02 00 07"), PubRel(7)),
    (V311, h("70 02 00 07"), PubComp(7)),
    (V5, h("40 02 00 07"), PubAck(7)),
    (V5, h("40 03 00 07 10"), PubAck(7, 0x10)),
    (V5, h("62 03 ff ff 92"), PubRel(0xFFFF, 0x92)),
    (
        V5,
        h("70 08 00 07 80 04 1f 00 01 'x'"),
        PubComp(7, 0x80, Properties(reason_string="x")),
    ),
    (V5, h("50 07 00 07 00 03 1f 00 00"), PubRec(7, 0, Properties(reason_string=""))),
    (
        V311,
        h("82 0c 00 0a 00 03 'a/#' 01 00 01 '+' 00"),
        Subscribe(10, [Subscription("a/#", 1), Subscription("+")]),
    ),
    (
        V5,
        h("82 0f 00 0a 02 0b 07 00 03 'a/#' 2d 00 01 '+' 00"),
        Subscribe(
            10,
            [Subscription("a/#", 1, True, True, 2), Subscription("+")],
            Properties(subscription_ids=[7]),
        ),
    ),
    (V311, h("90 04 00 0a 01 80"), SubAck(10, [1, 0x80])),
    (V5, h("90 05 00 0a 00 01 80"), SubAck(10, [1, 0x80])),
    (V311, h("a2 07 00 0b 00 03 'a/b'"), Unsubscribe(11, ["a/b"])),
    (V5, h("a2 0b 00 0b 00 00 03 'a/b' 00 01 '#'"), Unsubscribe(11, ["a/b", "#"])),
    (V311, h("b0 02 00 0b"), UnsubAck(11, [])),
    (V5, h("b0 04 00 0b 00 11"), UnsubAck(11, [0x11])),
    (V311, h("c0 00"), PingReq()),
    (V311, h("d0 00"), PingResp()),
    (V5, h("c0 00"), PingReq()),
    (V311, h("e0 00"), Disconnect()),
    (V5, h("e0 00"), Disconnect()),
    (V5, h("e0 01 04"), Disconnect(4)),
    (V5, h("e0 07 00 05 11 00 00 00 00"), Disconnect(0, Properties(session_expiry=0))),
    (V5, h("f0 00"), Auth()),
    (
        V5,
        h("f0 09 18 07 15 00 04 'SCRM'"),
        Auth(0x18, Properties(auth_method="SCRM")),
    ),
]


@pytest.mark.parametrize(("version", "data", "packet"), VECTORS)
def test_vectors_decode_and_encode(version: int, data: bytes, packet: Packet) -> None:
    assert decode(data, version) == packet
    assert encode(packet, version) == data


@pytest.mark.parametrize(
    ("version", "data", "packet"),
    [
        # Shorter forms MQTT 5 allows, and what they mean.
        (V5, h("40 04 00 07 10 00"), PubAck(7, 0x10)),
        (V5, h("40 04 00 07 00 00"), PubAck(7)),
        (V5, h("e0 02 8e 00"), Disconnect(0x8E)),
        (V5, h("f0 01 19"), Auth(0x19)),
        # A 3.1.1 reader takes no reason code and no properties.
        (V311, h("b0 02 00 0b"), UnsubAck(11, [])),
    ],
)
def test_other_forms_decode(version: int, data: bytes, packet: Packet) -> None:
    assert decode(data, version) == packet


def test_311_leaves_out_what_its_format_has_none_of() -> None:
    props = Properties(reason_string="no", user_properties=[("a", "b")])
    assert encode(PubAck(7, 0x10, props), V311) == h("40 02 00 07")
    assert encode(UnsubAck(7, [0x11], props), V311) == h("b0 02 00 07")
    assert encode(Disconnect(0x8E, props), V311) == h("e0 00")
    assert encode(Publish("a", b"", properties=props), V311) == h("30 03 00 01 'a'")
    with pytest.raises(ValueError, match="MQTT 5"):
        encode(Auth(), V311)


def test_the_reader_takes_a_client_stream_in_order() -> None:
    stream = [data for version, data, packet in VECTORS if version == V5 and _from_client(packet)]
    reader = PacketReader()
    out = reader.feed(CONNECT_5 + b"".join(stream))
    assert reader.version == V5
    assert out == [decode(CONNECT_5, V5)] + [decode(data, V5) for data in stream]


def _from_client(packet: Packet) -> bool:
    return not isinstance(packet, Connect | ConnAck | SubAck | UnsubAck | PingResp)


def test_the_reader_takes_the_version_of_the_connect() -> None:
    reader = PacketReader()
    assert reader.version is None
    assert reader.feed(h("10 11 00 06 'MQIsdp' 03 02 00 3c 00 03 'abc'")) == [
        Connect(V31, "abc", True, 60)
    ]
    assert reader.version == V31
    # Read as 3.1.1: a PUBACK with a reason code is bytes left over.
    assert isinstance(reader.feed(h("40 03 00 07 10"))[0], Malformed)


# -- publish fast paths -------------------------------------------------------------------


@pytest.mark.parametrize("version", [V311, V5])
@pytest.mark.parametrize("props", [None, Properties(), Properties(content_type="text/plain")])
def test_publish_bytes_is_the_encoded_publish(version: int, props: Properties | None) -> None:
    packet = Publish("a/b", b"x" * 200, 1, True, True, 513, props or Properties())
    data = encode(packet, version)
    assert (
        publish_bytes(
            "a/b",
            b"x" * 200,
            version,
            qos=1,
            retain=True,
            dup=True,
            packet_id=513,
            properties=props,
        )
        == data
    )
    assert publish_bytes("a/b", b"hi", version) == encode(Publish("a/b", b"hi"), version)


def test_publish_fast_paths_refuse_a_packet_id_that_cannot_be() -> None:
    with pytest.raises(ValueError, match="packet identifier"):
        publish_bytes("a", b"", V5, qos=1)


def test_reason_names() -> None:
    assert REASONS[Malformed("x").reason] == "Malformed Packet"
    assert REASONS[ProtocolViolation("x").reason] == "Protocol Error"
    assert REASONS[PacketTooLarge("x").reason] == "Packet too large"
    assert REASONS[UnsupportedVersion("x", 6).reason] == "Unsupported Protocol Version"


# -- refusals -----------------------------------------------------------------------------


def refused(data: bytes, error: type[MqttError], version: int = V311, **reader: Any) -> MqttError:
    """``data`` after a CONNECT is refused with ``error``, and the reader is dead after."""
    reader_ = PacketReader(**reader)
    out = reader_.feed(CONNECTS[version])
    out += reader_.feed(data)
    assert type(out[-1]) is error, out
    assert str(out[-1])
    assert reader_.feed(h("c0 00")) == []
    assert reader_.feed(CONNECTS[version]) == []
    return out[-1]


#: (version, bytes after the CONNECT, error).
REFUSALS: list[tuple[int, str, type[MqttError]]] = [
    # The fixed header.
    (V311, "30 ff ff ff ff 01", Malformed),
    (V311, "00 00", Malformed),
    (V311, "f0 00", Malformed),
    (V311, "c1 00", Malformed),
    (V311, "e2 00", Malformed),
    (V311, "41 02 00 07", Malformed),
    (V311, "60 02 00 07", Malformed),
    (V311, "80 08 00 0a 00 03 'a/b' 00", Malformed),
    (V311, "a0 07 00 0b 00 03 'a/b'", Malformed),
    (V5, "f1 00", Malformed),
    # PUBLISH.
    (V311, "36 07 00 03 'a/b' 00 07", Malformed),
    (V311, "38 05 00 03 'a/b'", Malformed),
    (V5, "38 06 00 03 'a/b' 00", Malformed),
    (V311, "32 07 00 03 'a/b' 00 00", Malformed),
    (V311, "30 04 00 02 ff fe", Malformed),
    (V311, "30 03 00 01 00", Malformed),
    (V311, "30 05 00 03 'a/+'", ProtocolViolation),
    (V311, "30 05 00 03 'a/#'", ProtocolViolation),
    (V311, "30 02 00 00", ProtocolViolation),
    (V5, "30 03 00 00 00", ProtocolViolation),
    (V311, "30 05 00 04 'a/b'", Malformed),
    # Acknowledgements.
    (V311, "40 02 00 00", Malformed),
    (V311, "40 03 00 07 00", Malformed),
    (V311, "40 01 00", Malformed),
    (V5, "40 02 00 00", Malformed),
    # SUBSCRIBE and UNSUBSCRIBE.
    (V311, "82 02 00 0a", ProtocolViolation),
    (V5, "82 03 00 0a 00", ProtocolViolation),
    (V311, "82 08 00 00 00 03 'a/b' 00", Malformed),
    (V311, "82 08 00 0a 00 03 'a/#' 03", Malformed),
    (V311, "82 08 00 0a 00 03 'a/#' 04", Malformed),
    (V5, "82 09 00 0a 00 00 03 'a/#' 40", Malformed),
    (V5, "82 09 00 0a 00 00 03 'a/#' 30", Malformed),
    (V5, "82 09 00 0a 00 00 03 'a/#' 03", Malformed),
    (V311, "82 08 00 0a 00 03 '#/a' 00", ProtocolViolation),
    (V311, "82 08 00 0a 00 03 'a+b' 00", ProtocolViolation),
    (V311, "82 05 00 0a 00 00 00", ProtocolViolation),
    (V311, "82 07 00 0a 00 03 'a/#'", Malformed),
    (V5, "82 10 00 0a 00 00 0a '$share/g/a' 04", ProtocolViolation),
    (V311, "a2 02 00 0b", ProtocolViolation),
    (V311, "a2 08 00 0b 00 04 'a/#/'", ProtocolViolation),
    (V311, "a2 07 00 00 00 03 'a/b'", Malformed),
    # Packets a server never receives, and a second CONNECT.
    (V311, "20 02 00 00", ProtocolViolation),
    (V311, "90 03 00 0a 00", ProtocolViolation),
    (V311, "b0 02 00 0b", ProtocolViolation),
    (V311, "d0 00", ProtocolViolation),
    (V311, CONNECT_311.hex(" "), ProtocolViolation),
    (V5, CONNECT_5.hex(" "), ProtocolViolation),
    # Bytes left over.
    (V311, "c0 01 00", Malformed),
    (V311, "e0 01 00", Malformed),
    (V311, "62 03 00 07 00", Malformed),
    (V311, "a2 08 00 0b 00 03 'a/b' 00", Malformed),
    # Properties: unknown, out of place, repeated, out of range, longer than the packet.
    (V5, "30 07 00 03 'a/b' 02 05 00", Malformed),
    (V5, "30 08 00 03 'a/b' 03 11 00 00", Malformed),
    (V5, "30 0a 00 03 'a/b' 04 21 00 05 00", ProtocolViolation),
    (V5, "30 0a 00 03 'a/b' 04 01 00 01 01", ProtocolViolation),
    (V5, "30 08 00 03 'a/b' 02 01 02", ProtocolViolation),
    (V5, "30 08 00 03 'a/b' 02 0b 00", ProtocolViolation),
    (V5, "30 09 00 03 'a/b' 03 23 00 00", ProtocolViolation),
    (V5, "30 0b 00 03 'a/b' 05 08 00 02 ff ff", Malformed),
    (V5, "82 0b 00 0a 04 0b 01 0b 02 00 01 'a' 00", ProtocolViolation),
    (V5, "82 09 00 0a 02 26 00 00 01 'a' 00", Malformed),
    (V5, "a2 08 00 0b 02 0b 01 00 01 'a'", ProtocolViolation),
    (V5, "e0 04 00 02 17 00", ProtocolViolation),
    (V5, "40 06 00 07 00 02 1f 00", Malformed),
]


@pytest.mark.parametrize(("version", "data", "error"), REFUSALS)
def test_refusals(version: int, data: str, error: type[MqttError]) -> None:
    refused(h(data), error, version)


#: CONNECT flags and properties a server refuses.
BAD_CONNECTS: list[tuple[str, type[MqttError]]] = [
    ("10 0c 00 04 'MQTT' 04 03 00 3c 00 00", Malformed),  # the reserved flag
    ("10 0c 00 04 'MQTT' 04 0a 00 3c 00 00", Malformed),  # will QoS without a will
    ("10 0c 00 04 'MQTT' 04 22 00 3c 00 00", Malformed),  # will retain without a will
    ("10 12 00 04 'MQTT' 04 1e 00 3c 00 00 00 01 'a' 00 01 'b'", Malformed),  # will QoS 3
    ("10 0e 00 04 'MQTT' 04 42 00 3c 00 00 00 00", Malformed),  # a password, no user name
    ("10 0d 00 04 'MQTT' 04 02 00 3c 00 00 00", Malformed),  # a byte left over
    ("10 0b 00 04 'MQTT' 04 02 00 3c 00", Malformed),  # the client id cut short
    ("10 12 00 04 'MQTT' 04 06 00 3c 00 00 00 01 '#' 00 01 'b'", ProtocolViolation),  # will
    ("10 10 00 04 'MQTT' 05 02 00 3c 03 23 00 01 00 00", ProtocolViolation),  # topic alias
    ("10 10 00 04 'MQTT' 05 02 00 3c 03 21 00 00 00 00", ProtocolViolation),  # receive max 0
    ("10 12 00 04 'MQTT' 05 02 00 3c 05 27 00 00 00 00 00 00", ProtocolViolation),  # max size 0
    ("10 0f 00 04 'MQTT' 05 02 00 3c 02 17 02 00 00", ProtocolViolation),  # a boolean of 2
    ("10 0f 00 04 'MQTT' 05 02 00 3c 02 19 01 00 00", None),  # a boolean of 1 is fine
]


@pytest.mark.parametrize(("data", "error"), BAD_CONNECTS)
def test_connect_refusals(data: str, error: type[MqttError] | None) -> None:
    reader = PacketReader()
    out = reader.feed(h(data))
    if error is None:
        assert isinstance(out[0], Connect)
        return
    assert len(out) == 1
    assert type(out[0]) is error, out
    assert reader.feed(CONNECT_311) == []
    assert reader.version is None


@pytest.mark.parametrize(
    ("data", "version"),
    [
        ("10 0c 00 04 'MQTT' 06 02 00 3c 00 00", 6),
        ("10 0c 00 04 'MQTT' 03 02 00 3c 00 00", 3),
        ("10 0e 00 06 'MQIsdp' 04 02 00 3c 00 00", 4),
        ("10 0c 00 04 'MQTX' 04 02 00 3c 00 00", 4),
        ("10 01 00", 0),
    ],
)
def test_unsupported_versions(data: str, version: int) -> None:
    reader = PacketReader()
    (error,) = reader.feed(h(data))
    assert isinstance(error, UnsupportedVersion)
    assert error.version == version
    assert error.reason == 0x84
    assert reader.feed(CONNECT_311) == []


def test_a_password_without_a_user_name_is_taken_in_5() -> None:
    (connect,) = PacketReader().feed(h("10 0f 00 04 'MQTT' 05 42 00 3c 00 00 00 00 00"))
    assert connect == Connect(V5, "", True, 60, password=b"")


def test_repeated_user_properties_and_publish_subscription_ids_are_taken() -> None:
    packet = first_of(h("30 14 00 01 'a' 10 26 00 01 'k' 00 01 'v' 26 00 00 00 00 0b 01 0b 02"), V5)
    assert packet == Publish(
        "a",
        b"",
        properties=Properties(subscription_ids=[1, 2], user_properties=[("k", "v"), ("", "")]),
    )


def test_the_first_packet_must_be_a_connect_and_is_refused_at_its_first_byte() -> None:
    reader = PacketReader()
    (error,) = reader.feed(b"\x30")
    assert isinstance(error, ProtocolViolation)
    assert reader.feed(CONNECT_311) == []


def test_a_too_large_packet_is_refused_before_its_body() -> None:
    reader = PacketReader(max_size=100)
    reader.feed(CONNECT_311)
    assert reader.feed(h("30 61")) == []  # 2 + 97 bytes: fits, waits for the body
    reader = PacketReader(max_size=100)
    reader.feed(CONNECT_311)
    assert reader.feed(h("30 e3")) == []  # the length goes on
    (error,) = reader.feed(h("00"))  # 2 + 99 bytes
    assert isinstance(error, PacketTooLarge)
    assert error.reason == 0x95
    assert reader.feed(bytes(99)) == []
    reader = PacketReader()
    reader.feed(CONNECT_311)
    # The limit counts the whole packet, as MQTT 5's Maximum Packet Size does.
    assert reader.feed(h("30 fa ff ff 7f")) == []
    assert reader._need == MAX_PACKET
    reader = PacketReader()
    reader.feed(CONNECT_311)
    assert isinstance(reader.feed(h("30 fb ff ff 7f"))[0], PacketTooLarge)


def test_a_too_large_connect_is_refused_before_its_body() -> None:
    (error,) = PacketReader(max_size=50).feed(h("10 31"))
    assert isinstance(error, PacketTooLarge)


def test_a_remaining_length_of_five_bytes_is_refused_at_the_fifth() -> None:
    reader = PacketReader()
    reader.feed(CONNECT_311)
    assert reader.feed(h("30 80 80 80")) == []
    (error,) = reader.feed(h("80"))
    assert isinstance(error, Malformed)


def test_the_reader_never_holds_more_than_its_limit() -> None:
    reader = PacketReader(max_size=300)
    reader.feed(CONNECT_311)
    packet = encode(Publish("a/b", bytes(292)), V311)
    assert len(packet) == 300
    out: list[Packet | MqttError] = []
    for piece in [packet[i : i + 7] for i in range(0, len(packet), 7)] * 3:
        out += reader.feed(piece)
        assert len(reader._pending) <= 300
    assert out == [Publish("a/b", bytes(292))] * 3
    out = reader.feed(packet * 10 + h("30 ac 02") + bytes(4000))
    assert out[:10] == [Publish("a/b", bytes(292))] * 10
    assert isinstance(out[10], PacketTooLarge)
    assert len(reader._pending) == 0


# -- round trips --------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=8)
BINARY = st.binary(max_size=8)
TOPIC = (
    st.lists(
        st.sampled_from(["a", "b", "", "$x", "caf\u00e9", "\U0001f600"]), min_size=1, max_size=4
    )
    .map("/".join)
    .filter(bool)
)
FILTER = st.builds(
    lambda levels, tail: "/".join(levels + tail),
    st.lists(st.sampled_from(["a", "+", "", "$y", "\u00e9"]), min_size=1, max_size=4),
    st.sampled_from([[], ["#"]]),
).filter(bool)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFF_FFFF)
BOOL_BYTE = st.integers(0, 1)
PACKET_ID = st.integers(1, 0xFFFF)
REASON = st.integers(0, 255)

_FIELD: dict[str, st.SearchStrategy[Any]] = {
    "payload_format": BOOL_BYTE,
    "message_expiry": U32,
    "content_type": TEXT,
    "response_topic": TEXT,
    "correlation_data": BINARY,
    "subscription_ids": st.lists(st.integers(1, 268_435_455), min_size=1, max_size=3),
    "session_expiry": U32,
    "assigned_client_id": TEXT,
    "server_keep_alive": U16,
    "auth_method": TEXT,
    "auth_data": BINARY,
    "request_problem_info": BOOL_BYTE,
    "will_delay": U32,
    "request_response_info": BOOL_BYTE,
    "response_info": TEXT,
    "server_reference": TEXT,
    "reason_string": TEXT,
    "receive_maximum": st.integers(1, 0xFFFF),
    "topic_alias_maximum": U16,
    "topic_alias": st.integers(1, 0xFFFF),
    "maximum_qos": BOOL_BYTE,
    "retain_available": BOOL_BYTE,
    "user_properties": st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=3),
    "maximum_packet_size": st.integers(1, 0xFFFF_FFFF),
    "wildcard_available": BOOL_BYTE,
    "subscription_ids_available": BOOL_BYTE,
    "shared_available": BOOL_BYTE,
}


def test_every_property_has_a_strategy() -> None:
    assert set(_FIELD) == set(Properties.__slots__)


def properties(kind: type, version: int) -> st.SearchStrategy[Properties]:
    if version != V5:
        return st.just(Properties())
    optional = {name: _FIELD[name] for name in ALLOWED_PROPERTIES[kind]}
    if kind is Subscribe:
        optional["subscription_ids"] = st.lists(st.integers(1, 268_435_455), min_size=1, max_size=1)
    return st.fixed_dictionaries({}, optional=optional).map(lambda kw: Properties(**kw))


def will(version: int) -> st.SearchStrategy[Will]:
    return st.builds(
        Will, TOPIC, BINARY, st.integers(0, 2), st.booleans(), properties(Will, version)
    )


def connect(version: int) -> st.SearchStrategy[Connect]:
    def build(level: int, username: str | None, password: bytes | None, **kw: Any) -> Connect:
        if level != V5 and username is None:
            password = None
        return Connect(level, username=username, password=password, **kw)

    return st.builds(
        build,
        st.just(V5) if version == V5 else st.sampled_from([V31, V311]),
        st.none() | TEXT,
        st.none() | BINARY,
        client_id=TEXT,
        clean_start=st.booleans(),
        keep_alive=U16,
        will=st.none() | will(version),
        properties=properties(Connect, version),
    )


def publish(version: int) -> st.SearchStrategy[Publish]:
    def build(qos: int, dup: bool, packet_id: int, **kw: Any) -> Publish:
        return Publish(qos=qos, dup=dup and qos > 0, packet_id=packet_id if qos else None, **kw)

    return st.builds(
        build,
        st.integers(0, 2),
        st.booleans(),
        PACKET_ID,
        topic=TOPIC,
        payload=st.binary(max_size=40),
        retain=st.booleans(),
        properties=properties(Publish, version),
    )


def subscription(version: int) -> st.SearchStrategy[Subscription]:
    if version != V5:
        return st.builds(Subscription, FILTER, st.integers(0, 2))
    return st.builds(
        Subscription, FILTER, st.integers(0, 2), st.booleans(), st.booleans(), st.integers(0, 2)
    )


def client_packet(version: int) -> st.SearchStrategy[Packet]:
    reason = REASON if version == V5 else st.just(0)
    options: list[st.SearchStrategy[Any]] = [
        publish(version),
        *[
            st.builds(ack, PACKET_ID, reason, properties(ack, version))
            for ack in (PubAck, PubRec, PubRel, PubComp)
        ],
        st.builds(
            Subscribe,
            PACKET_ID,
            st.lists(subscription(version), min_size=1, max_size=3),
            properties(Subscribe, version),
        ),
        st.builds(
            Unsubscribe,
            PACKET_ID,
            st.lists(FILTER, min_size=1, max_size=3),
            properties(Unsubscribe, version),
        ),
        st.just(PingReq()),
        st.builds(Disconnect, reason, properties(Disconnect, version)),
    ]
    if version == V5:
        options.append(st.builds(Auth, REASON, properties(Auth, version)))
    return st.one_of(options)


def server_packet(version: int) -> st.SearchStrategy[Packet]:
    v5 = version == V5
    return st.one_of(
        st.builds(
            ConnAck,
            REASON if v5 else st.integers(0, 5),
            st.booleans(),
            properties(ConnAck, version),
        ),
        st.builds(
            SubAck,
            PACKET_ID,
            st.lists(REASON if v5 else st.sampled_from([0, 1, 2, 0x80]), max_size=3),
            properties(SubAck, version),
        ),
        st.builds(
            UnsubAck,
            PACKET_ID,
            st.lists(REASON, max_size=3) if v5 else st.just([]),
            properties(UnsubAck, version),
        ),
        st.just(PingResp()),
    )


ROUND_TRIPS = settings(max_examples=50, deadline=None, database=None)


@pytest.mark.parametrize("version", [V311, V5])
@ROUND_TRIPS
@given(data=st.data())
def test_any_packet_comes_back_as_it_went(version: int, data: st.DataObject) -> None:
    packet = data.draw(connect(version) | client_packet(version) | server_packet(version))
    assert decode(encode(packet, version), version) == packet


@pytest.mark.parametrize("version", [V311, V5])
@ROUND_TRIPS
@given(data=st.data())
def test_a_client_stream_comes_back_however_it_is_cut(version: int, data: st.DataObject) -> None:
    first = data.draw(connect(version))
    packets = data.draw(st.lists(client_packet(version), max_size=4))
    stream = encode(first, version) + b"".join(encode(packet, first.version) for packet in packets)
    expected: list[Packet | MqttError] = [first, *packets]
    assert PacketReader().feed(stream) == expected
    points = (
        range(len(stream) + 1)
        if len(stream) < 80
        else data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    )
    for point in points:
        reader = PacketReader()
        assert reader.feed(stream[:point]) + reader.feed(stream[point:]) == expected
    reader = PacketReader()
    assert [item for byte in stream for item in reader.feed(bytes((byte,)))] == expected
