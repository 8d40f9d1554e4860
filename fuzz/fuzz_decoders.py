"""A coverage-guided fuzz target (atheris, i.e. libFuzzer) for every decoder and framing
that a client's bytes reach.

    pip install atheris
    python fuzz/fuzz_decoders.py seed fuzz/corpus       # once: valid inputs to start from
    python fuzz/fuzz_decoders.py fuzz/corpus -runs=100000 -max_len=4096

The first byte of each input picks the target (``TARGETS``, in order); the rest
is the target's input. Set ``HOMER_FUZZ_TARGET`` to a target's name to fuzz that
one alone (the first byte is then ignored, so the same corpus serves). Any input
must be accepted or refused with the target's documented exception, and a parser
must never hold more than its limit: anything else is a crash, which libFuzzer
reports with the input that caused it. fuzz/README.md says more.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from random import Random

import atheris

# Guide the fuzzer through startswith() and endswith() too. (Not through regular
# expressions: atheris's hook for them fails on some bytes patterns of dependencies.)
atheris.enabled_hooks.add("str")

with atheris.instrument_imports(include=["homer"]):
    from homer.errors import InvalidInput
    from homer.protocol.codecs import DecodeError, JSONCodec, MessagePackCodec
    from homer.protocol.envelope import BadRequest, parse_request
    from homer.protocol.framing import (
        FRAMINGS,
        FrameTooLarge,
        GreetingError,
        LengthPrefixedFraming,
        LineFraming,
        parse_greeting,
    )
    from homer.protocol.irc import (
        IrcError,
        IrcMessage,
        IrcSyntaxError,
        LineReader,
        parse,
        render,
    )
    from homer.protocol.mqtt import (
        V5,
        V311,
        Auth,
        Connect,
        Disconnect,
        MqttError,
        Packet,
        PacketReader,
        PingReq,
        Properties,
        PubAck,
        Publish,
        Subscribe,
        Subscription,
        Unsubscribe,
        decode,
        encode,
    )
    from homer.protocol.websocket import (
        FrameParser,
        HandshakeError,
        ProtocolViolation,
        WebSocketError,
        check_upgrade,
    )
    from homer.transports.stream_cursor import MAX_CURSOR, decode_cursor

JSON = JSONCodec()
MSGPACK = MessagePackCodec()


def pieces(seed: int, data: bytes) -> list[bytes]:
    """``data`` cut into the pieces a socket might read, at points ``seed`` picks."""
    rng = Random(seed)
    out = []
    start = 0
    while start < len(data):
        end = start + rng.randint(1, 64)
        out.append(data[start:end])
        start = end
    return out


@atheris.instrument_func
def shape(value: object, depth: int = 0) -> None:
    """Walk a decoded document. The decoders are C, which libFuzzer cannot see into:
    this makes documents of new shapes and sizes count as new coverage, so that the
    corpus grows towards valid, deeper documents instead of shrinking to one byte."""
    if depth > 16:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            shape(key, depth + 1)
            shape(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            shape(item, depth + 1)
    elif isinstance(value, str):
        if value.isascii():
            return
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if value < 0 or value > 2**32:
            return
    elif isinstance(value, float):
        return


def fuzz_json(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        shape(JSON.decode(data))


def fuzz_msgpack(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        shape(MSGPACK.decode(data))


def framed(
    framing: type[LineFraming] | type[LengthPrefixedFraming], slack: int
) -> Callable[[bytes], None]:
    """A target for ``framing``: the first byte is the limit, the second picks the cuts,
    the rest is the stream. The same frames come whether the bytes come at once or
    in pieces (or both are refused), and it never holds more than ``limit + slack``."""

    def run(limit: int, stream: list[bytes]) -> tuple[list[bytes], bool]:
        parser = framing(limit)
        frames: list[bytes] = []
        for piece in stream:
            try:
                frames += parser.feed(piece)
            except FrameTooLarge:
                return frames, True
            finally:
                assert len(parser._pending) <= limit + slack, "buffered past the limit"
        assert all(len(frame) <= limit for frame in frames), "a frame over the limit"
        return frames, False

    def target(data: bytes) -> None:
        if len(data) < 2:
            return
        limit, stream = data[0], data[2:]
        whole, refused = run(limit, [stream])
        cut, refused_in_pieces = run(limit, pieces(data[1], stream))
        assert refused == refused_in_pieces, "refused or not depending on the cut"
        assert refused or whole == cut, "different frames depending on the cut"

    return target


def fuzz_greeting(data: bytes) -> None:
    try:
        greeting = parse_greeting(data)
    except GreetingError:
        return
    assert greeting is None or greeting.framing in FRAMINGS


def fuzz_websocket(data: bytes) -> None:
    """The first byte is the largest message (times two), the second picks the cuts."""
    if len(data) < 2:
        return
    limit, stream = data[0] * 2, data[2:]

    def run(stream: list[bytes]) -> tuple[list[object], int | None]:
        parser = FrameParser(max_message=limit)
        events: list[object] = []
        for piece in stream:
            try:
                events += parser.feed(piece)
            except WebSocketError as exc:
                events += exc.events
                try:
                    parser.feed(b"\x81\x80\x00\x00\x00\x00")
                except ProtocolViolation:
                    return events, exc.close_code
                raise AssertionError("a failed parser took more input") from None
            assert len(parser._head or b"") < 14, "a header buffered past 14 bytes"
            assert len(parser._ctl or b"") <= 125, "a control frame buffered past 125 bytes"
            assert sum(map(len, parser._parts or ())) <= limit, "a message buffered past the limit"
        return events, None

    assert run(pieces(data[1], stream)) == run([stream]), "different events depending on the cut"


HEADER_NAMES = ["upgrade", "connection", "sec-websocket-version", "sec-websocket-key", "origin"]
GOOD_VALUES = {
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-version": "13",
    "sec-websocket-key": base64.b64encode(bytes(16)).decode(),
}


def fuzz_handshake(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    method = fdp.PickValueInList(["GET", "POST", fdp.ConsumeUnicode(6)])
    headers: dict[str, str] = {}
    while fdp.remaining_bytes():
        name = fdp.PickValueInList(HEADER_NAMES)
        if fdp.ConsumeBool():
            headers[name] = GOOD_VALUES.get(name, "")
        else:
            headers[name] = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40))
    try:
        key = check_upgrade(method, headers)
    except HandshakeError as exc:
        refused = exc
    else:
        assert len(base64.b64decode(key, validate=True)) == 16
        return
    assert refused.status in (400, 426), f"status {refused.status}"
    assert refused.response().startswith(b"HTTP/1.1 4")


def fuzz_request(data: bytes) -> None:
    """The first byte picks the codec (even: JSON, odd: MessagePack)."""
    if not data:
        return
    codec = MSGPACK if data[0] & 1 else JSON
    try:
        document = codec.decode(data[1:])
    except DecodeError:
        return
    shape(document)
    try:
        request = parse_request(document)
    except BadRequest:
        return
    assert isinstance(request.op, str)
    assert request.op


def fuzz_cursor(data: bytes) -> None:
    """The first byte says whether to repeat the text up to the cursor's limit."""
    if not data:
        return
    text = data[1:].decode("utf-8", "surrogateescape")
    if data[0] & 1:
        text = ",".join([text] * (MAX_CURSOR // max(len(text), 1) + 1))
    with contextlib.suppress(InvalidInput):
        decode_cursor(text)


def fuzz_irc(data: bytes) -> None:
    """The first byte picks the cuts; the second, when odd, repeats the stream past the
    reader's limit. The same lines (or errors) come whether the bytes come at once or
    in pieces, and the reader never holds more than its limit. Each line parses or
    raises IrcSyntaxError, and what it parses to renders to a line that parses back."""
    if len(data) < 2:
        return
    stream = data[2:]
    if data[1] & 1:
        stream *= LineReader.limit // max(len(stream), 1) + 2

    def run(stream: list[bytes]) -> list[str | type[IrcError]]:
        reader = LineReader()
        out: list[str | type[IrcError]] = []
        for piece in stream:
            for item in reader.feed(piece):
                assert isinstance(item, str | IrcError), f"fed out {item!r}"
                out.append(item if isinstance(item, str) else type(item))
            assert len(reader._pending) <= reader.limit, "buffered past the limit"
        return out

    whole = run([stream])
    assert run(pieces(data[0], stream)) == whole, "different lines depending on the cut"
    for line in whole:
        if not isinstance(line, str):
            continue
        try:
            message = parse(line)
        except IrcSyntaxError:
            continue
        wire = render(message.command, *message.params, source=message.source, tags=message.tags)
        assert wire.endswith(b"\r\n"), "a rendered line without its ending"
        assert not any(byte in wire[:-2] for byte in b"\r\n\x00"), "CR, LF or NUL rendered"
        assert run([wire]) == [wire[:-2].decode()], "a rendered line the reader refuses"
        again = parse(wire[:-2].decode())
        assert again == IrcMessage(
            message.command, message.params, message.tags or None, message.source
        ), "rendered and parsed again, a different message"


#: The reader's limit in the ``mqtt`` target: small, so that fuzzing reaches it.
MQTT_LIMIT = 1024
#: The CONNECT each ``mqtt`` input starts with, by the low bit of its first byte.
MQTT_CONNECTS = (encode(Connect(V311, "fuzz"), V311), encode(Connect(V5, "fuzz"), V5))


def fuzz_mqtt(data: bytes) -> None:
    """The first byte picks the version (its low bit) and the cuts; a CONNECT of that
    version comes first, then the rest. The same packets (or error) come whether the
    bytes come at once or in pieces, the reader never holds more than its limit, and
    each packet encodes to bytes that decode to it again."""
    if not data:
        return
    stream = MQTT_CONNECTS[data[0] & 1] + data[1:]

    def run(stream: list[bytes]) -> tuple[list[Packet | tuple[type, str]], int | None]:
        reader = PacketReader(MQTT_LIMIT)
        out: list[Packet | tuple[type, str]] = []
        for piece in stream:
            for item in reader.feed(piece):
                assert isinstance(item, MqttError) or type(item).__module__ == Connect.__module__
                out.append((type(item), str(item)) if isinstance(item, MqttError) else item)
            assert len(reader._pending) <= MQTT_LIMIT, "buffered past the limit"
        return out, reader.version

    whole, version = run([stream])
    assert run(pieces(data[0], stream)) == (whole, version), (
        "different packets depending on the cut"
    )
    assert version is not None, "the CONNECT was not taken"
    for packet in whole:
        if isinstance(packet, tuple):
            assert packet is whole[-1], "a packet after an error"
            continue
        wire = encode(packet, version)
        assert decode(wire, version) == packet, "encoded and decoded, a different packet"


TARGETS: dict[str, Callable[[bytes], None]] = {
    "json": fuzz_json,
    "msgpack": fuzz_msgpack,
    "lines": framed(LineFraming, 1),  # a line of the limit may wait with its "\r"
    "length": framed(LengthPrefixedFraming, 3),  # a 4-byte length, and less than a frame
    "greeting": fuzz_greeting,
    "websocket": fuzz_websocket,
    "handshake": fuzz_handshake,
    "request": fuzz_request,
    "cursor": fuzz_cursor,
    "irc": fuzz_irc,
    "mqtt": fuzz_mqtt,  # last, so that the targets before it keep their first byte
}
NAMES = list(TARGETS)
ONLY = os.environ.get("HOMER_FUZZ_TARGET")
RUNS: Counter[str] = Counter()
REPORT_EVERY = 10_000


def test_one_input(data: bytes) -> None:
    if not data:
        return
    name = ONLY if ONLY is not None else NAMES[data[0] % len(NAMES)]
    RUNS[name] += 1
    TARGETS[name](data[1:])
    total = RUNS.total()
    if total % REPORT_EVERY == 0:
        # libFuzzer ends the process without running Python's exit handlers: say it now.
        print(f"after {total} inputs, per target: {dict(sorted(RUNS.items()))}", file=sys.stderr)


def client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A short masked frame, as a client sends it (the mask is zeros: easy to mutate)."""
    return bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload))) + bytes(4) + payload


#: A client's packets after its CONNECT, for the ``mqtt`` seeds: 3.1.1, then 5.
MQTT_SEEDS_311: list[Packet] = [
    Publish("a/b", b"hello", 1, packet_id=7),
    Subscribe(3, [Subscription("a/#", 1), Subscription("$share/g/+", 2)]),
    Unsubscribe(4, ["a/#"]),
    PubAck(7),
    Publish("x", b"", retain=True),
    PingReq(),
    Disconnect(),
]
_USER = Properties(user_properties=[("k", "v")])
MQTT_SEEDS_5: list[Packet] = [
    Publish(
        "a/b", b"hello", 2, packet_id=7, properties=Properties(content_type="t", topic_alias=3)
    ),
    Publish("", b"again", properties=Properties(topic_alias=3, subscription_ids=[1, 2])),
    Subscribe(3, [Subscription("a/#", 1, True, True, 2), Subscription("$share/g/+", 2)], _USER),
    Unsubscribe(4, ["a/#"], _USER),
    PubAck(7, 0x10, Properties(reason_string="r")),
    PingReq(),
    Auth(0x18, Properties(auth_method="m", auth_data=b"d")),
    Disconnect(0x04, Properties(session_expiry=1)),
]


SEEDS: dict[str, list[bytes]] = {
    "json": [b'{"op": "send", "rid": 3, "room": "lobby", "cid": "c1", "text": "hi"}'],
    "msgpack": [bytes.fromhex("82a26f70a470696e67a372696401")],  # {"op": "ping", "rid": 1}
    "lines": [b"\x40\x07" + b'{"op": "ping"}\r\n\n{"op": "ping", "rid": 2}\n'],
    "length": [b"\x40\x07" + LengthPrefixedFraming.frame(b"hello") + b"\x00\x00\x00\x00"],
    "greeting": [b"homer/1 msgpack length", b"homer/1 json lines \r"],
    "websocket": [
        b"\x40\x07"
        + client_frame(0x1, b"hel", fin=False)
        + client_frame(0x9, b"ping")
        + client_frame(0x0, b"lo \xc3\xa9")
        + client_frame(0x2, b"\x00\xff")
        + client_frame(0x8, b"\x03\xe8bye")
    ],
    "handshake": [b"\x00" * 8, b"\x01" * 16],
    "request": [b"\x00" + b'{"op": "hello", "rid": "a", "token": "t"}'],
    "cursor": [b"\x00lobby~1~42,plans~2~7", b"\x01lobby~1~42"],
    "irc": [
        b"\x07\x00@label=a;+draft/reply=x\\s1 :nick!u@h PRIVMSG #a :hi there\r\n"
        b"PING :x\n\r\n  \nNICK caf\xc3\xa9\r\nCAP LS 302\r\n",
        b"\x03\x01@+k=v\\:w\\\\;t ",
        b"\x05\x00:srv 001 me :Welcome\r\n" + b"PRIVMSG #a :" + b"x" * 500 + b"\r\n",
    ],
    "mqtt": [
        bytes((version & 1,)) + b"".join(encode(packet, version) for packet in packets)
        for version, packets in ((V311, MQTT_SEEDS_311), (V5, MQTT_SEEDS_5))
    ],
}


def write_seeds(directory: Path) -> None:
    """A few valid inputs per target, each behind its target's byte."""
    directory.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(NAMES):
        for seed in SEEDS[name]:
            data = bytes((index,)) + seed
            (directory / hashlib.sha1(data, usedforsecurity=False).hexdigest()).write_bytes(data)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "seed":
        write_seeds(Path(sys.argv[2]))
        return
    if ONLY is not None and ONLY not in TARGETS:
        sys.exit(f"HOMER_FUZZ_TARGET must be one of {', '.join(NAMES)}")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
