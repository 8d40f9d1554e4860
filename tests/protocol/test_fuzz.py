"""Fuzzing every decoder and framing that a client's bytes reach.

For each one, any input is either accepted (and valid input comes back as it went
in, however it is cut) or refused with the documented exception, never anything
else; parsers that buffer never hold more than their limit. Inputs are random
bytes and valid input spoilt by a few edits (a byte flipped, inserted or removed,
the rest cut off), which takes the parsers deep into their states. The atheris
target in fuzz/ runs the same targets for as long as one likes.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable, Iterable
from random import Random
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homer.errors import InvalidInput
from homer.protocol.codecs import CODEC_NAME, Codec, DecodeError, JSONCodec, MessagePackCodec
from homer.protocol.envelope import BadRequest, Envelope, Request, parse_request
from homer.protocol.framing import (
    FRAMINGS,
    FrameTooLarge,
    Greeting,
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
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Subscribe,
    Subscription,
    Unsubscribe,
    decode,
    encode,
)
from homer.protocol.websocket import (
    BINARY,
    CONTINUATION,
    PING,
    TEXT,
    BinaryMessage,
    Event,
    FrameParser,
    HandshakeError,
    Ping,
    ProtocolViolation,
    TextMessage,
    WebSocketError,
    accept_key,
    check_upgrade,
    handshake_response,
)
from homer.transports.stream_cursor import MAX_CURSOR, decode_cursor, encode_position

#: Each target gets RANDOM_INPUTS cases from a seeded random generator (quick, and
#: the same on every run), then HYPOTHESIS examples, which explore and shrink. No
#: deadline (the machine may be busy), no example database (each run starts afresh).
RANDOM_INPUTS = 5_000
HYPOTHESIS = settings(
    max_examples=750,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Edits = list[tuple[int, int, int]]


def fuzz(
    check: Callable[..., None],
    strategies: dict[str, st.SearchStrategy[Any]],
    random_case: Callable[[Random], dict[str, Any]],
    seed: str,
) -> None:
    """``check`` on seeded random cases, then on Hypothesis's examples."""
    rng = Random(seed)
    for _ in range(RANDOM_INPUTS):
        check(**random_case(rng))
    HYPOTHESIS(given(**strategies)(check))()


# -- spoiling valid input -----------------------------------------------------------------

FLIP, CUT, INSERT, DELETE = range(4)
#: An edit: what to do, where (modulo the length), and a byte to use.
EDITS = st.lists(
    st.tuples(st.integers(FLIP, DELETE), st.integers(0, 1 << 16), st.integers(1, 255)),
    max_size=4,
)
#: Where to cut a stream into the pieces a socket might read.
CUTS = st.lists(st.integers(0, 1 << 16), max_size=8)
#: Random bytes: any, or from a few that matter to the parsers.
FEW = b"ab \r\n\x00\x01\x7e\x7f\x80\x81\xff"
NOISE = st.binary(max_size=300) | st.lists(st.sampled_from(FEW), max_size=100).map(bytes)


def spoil(data: bytes, edits: Iterable[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in edits:
        at = where % (len(out) + 1)
        if kind == FLIP and out:
            out[at % len(out)] ^= value
        elif kind == CUT:
            del out[at:]
        elif kind == INSERT:
            out.insert(at, value)
        else:
            del out[at : at + 1 + value % 8]
    return bytes(out)


def cut(data: bytes, points: Iterable[int]) -> list[bytes]:
    marks = sorted({point % (len(data) + 1) for point in points})
    return [data[a:b] for a, b in zip([0, *marks], [*marks, len(data)], strict=True)]


def random_edits(rng: Random) -> Edits:
    return [
        (rng.randrange(4), rng.randrange(1 << 16), rng.randrange(1, 256))
        for _ in range(rng.randint(1, 4))
    ]


def random_cuts(rng: Random) -> list[int]:
    return [rng.randrange(1 << 16) for _ in range(rng.randrange(9))]


def random_bytes(rng: Random, most: int = 300) -> bytes:
    size = rng.randrange(most + 1)
    if rng.random() < 0.5:
        return rng.randbytes(size)
    return bytes(rng.choice(FEW) for _ in range(size))


_CODE_POINTS = [
    (32, 127),
    (0, 128),
    (128, 256),
    (256, 0xD800),
    (0xE000, 0x10000),
    (0x10000, 0x110000),
]
#: Lone surrogates too: what undecodable bytes become in text decoded with
#: ``surrogateescape``, as aiohttp decodes header values.
_ESCAPED_CODE_POINTS = [*_CODE_POINTS, (0xDC80, 0xDD00)]


def random_text(rng: Random, most: int = 12, least: int = 0, *, escaped: bool = False) -> str:
    ranges = _ESCAPED_CODE_POINTS if escaped else _CODE_POINTS
    return "".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(rng.randint(least, most)))


def random_int(rng: Random) -> int:
    return rng.choice([rng.randrange(-300, 300), rng.randrange(-(2**63), 2**64)])


def random_value(rng: Random, depth: int = 2) -> Any:
    """A value JSON and MessagePack can both hold."""
    kind = rng.randrange(8 if depth else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return random_int(rng)
    if kind == 3:
        return rng.choice([rng.random(), rng.uniform(-1e300, 1e300)])
    if kind < 6:
        return random_text(rng)
    if kind == 6:
        return [random_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {random_text(rng, 6): random_value(rng, depth - 1) for _ in range(rng.randrange(4))}


# -- codecs -------------------------------------------------------------------------------

_TEXT = st.text(max_size=12)
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_MAYBE_TEXT = st.none() | _TEXT
_ENVELOPES = st.builds(
    Envelope,
    op=_TEXT,
    rid=st.none() | st.integers(-(2**63), 2**63 - 1) | _TEXT,
    room=_MAYBE_TEXT,
    seq=st.none() | st.integers(0, 2**63 - 1),
    id=_MAYBE_TEXT,
    cid=_MAYBE_TEXT,
    sender=_MAYBE_TEXT,
    uid=_MAYBE_TEXT,
    ts=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    kind=_MAYBE_TEXT,
    body=_JSON_VALUES,
)


def random_envelope(rng: Random) -> Envelope:
    def text() -> str | None:
        return random_text(rng) if rng.random() < 0.6 else None

    return Envelope(
        op=random_text(rng),
        rid=rng.choice([None, rng.randrange(-(2**63), 2**63), random_text(rng)]),
        room=text(),
        seq=rng.choice([None, rng.randrange(2**63)]),
        id=text(),
        cid=text(),
        sender=text(),
        uid=text(),
        ts=rng.choice([None, rng.random() * 2e9]),
        kind=text(),
        body=random_value(rng),
    )


def decode_or_refuse(codec: Codec, data: bytes) -> None:
    """``data`` decodes to a document JSON can hold, or to a DecodeError."""
    try:
        document = codec.decode(data)
    except DecodeError:
        return
    assert msgspec.json.decode(msgspec.json.encode(document)) == document


def check_codec(codec: Codec, envelope: Envelope, edits: Edits, noise: bytes) -> None:
    wire = codec.encode(envelope)
    assert msgspec.convert(codec.decode(wire), Envelope) == envelope
    decode_or_refuse(codec, spoil(wire, edits))
    decode_or_refuse(codec, noise)


@pytest.mark.parametrize("codec", [JSONCodec(), MessagePackCodec()], ids=lambda c: c.name)
def test_codecs_decode_documents_or_raise_decode_error(codec: Codec) -> None:
    fuzz(
        check_codec,
        {"codec": st.just(codec), "envelope": _ENVELOPES, "edits": EDITS, "noise": NOISE},
        lambda rng: {
            "codec": codec,
            "envelope": random_envelope(rng),
            "edits": random_edits(rng),
            "noise": random_bytes(rng),
        },
        f"codec {codec.name}",
    )


# -- framings for stream transports -------------------------------------------------------

Framing = LineFraming | LengthPrefixedFraming


def feed_all(framing: Framing, pieces: list[bytes], most: int) -> tuple[list[bytes], bool]:
    """Every frame out of ``pieces``, and whether the framing refused them. After each
    piece, nothing longer than the limit came out and at most ``most`` bytes stayed."""
    frames: list[bytes] = []
    for piece in pieces:
        try:
            frames += framing.feed(piece)
        except FrameTooLarge:
            return frames, True
        finally:
            assert len(framing._pending) <= most
    assert all(len(frame) <= framing.limit for frame in frames)
    return frames, False


def same_however_cut(framing: type[Framing], limit: int, data: bytes, cuts: list[int]) -> None:
    """At once or in pieces, the same frames come out, or both are refused."""
    # A partial line waits for its "\n" (maybe after its "\r"); a partial frame is
    # shorter than its 4-byte length and the largest payload.
    most = limit + 1 if framing is LineFraming else limit + 3
    whole, refused = feed_all(framing(limit), [data], most)
    pieces, refused_in_pieces = feed_all(framing(limit), cut(data, cuts), most)
    assert refused == refused_in_pieces
    if not refused:
        assert pieces == whole


def check_length_prefixed(
    payloads: list[bytes], limit: int, cuts: list[int], edits: Edits, noise: bytes
) -> None:
    fitting = [payload for payload in payloads if len(payload) <= limit]
    wire = b"".join(LengthPrefixedFraming.frame(payload) for payload in fitting)
    assert feed_all(LengthPrefixedFraming(limit), cut(wire, cuts), limit + 3) == (fitting, False)
    spoilt = spoil(b"".join(LengthPrefixedFraming.frame(payload) for payload in payloads), edits)
    for data in (spoilt, noise):
        same_however_cut(LengthPrefixedFraming, limit, data, cuts)


def check_lines(
    payloads: list[bytes], limit: int, cuts: list[int], edits: Edits, noise: bytes
) -> None:
    lines = [payload.replace(b"\n", b" ") for payload in payloads]
    # What comes out: without one "\r" before the "\n", and no blank lines.
    fitting = [line for line in lines if len(line.removesuffix(b"\r")) <= limit]
    expected = [line.removesuffix(b"\r") for line in fitting]
    expected = [line for line in expected if line.strip()]
    wire = b"".join(LineFraming.frame(line) for line in fitting)
    assert feed_all(LineFraming(limit), cut(wire, cuts), limit + 1) == (expected, False)
    spoilt = spoil(b"".join(LineFraming.frame(line) for line in lines), edits)
    for data in (spoilt, noise):
        same_however_cut(LineFraming, limit, data, cuts)


_FRAMING_STRATEGIES = {
    "payloads": st.lists(st.binary(max_size=56), max_size=6),
    "limit": st.integers(0, 48),
    "cuts": CUTS,
    "edits": EDITS,
    "noise": NOISE,
}


def random_framing_case(rng: Random) -> dict[str, Any]:
    return {
        "payloads": [random_bytes(rng, 56) for _ in range(rng.randrange(7))],
        "limit": rng.randrange(49),
        "cuts": random_cuts(rng),
        "edits": random_edits(rng),
        "noise": random_bytes(rng),
    }


def test_length_prefixed_frames_come_back_or_raise_frame_too_large() -> None:
    fuzz(check_length_prefixed, _FRAMING_STRATEGIES, random_framing_case, "length")


def test_lines_come_back_or_raise_frame_too_large() -> None:
    fuzz(check_lines, _FRAMING_STRATEGIES, random_framing_case, "lines")


def test_a_line_of_the_limit_is_taken_when_its_cr_and_lf_arrive_apart() -> None:
    """Regression: the "\\r" alone made the line one byte too long, so the same bytes
    were taken or refused depending on where the socket cut them."""
    framing = LineFraming(limit=4)
    assert framing.feed(b"abcd\r") == []
    assert framing.feed(b"\n") == [b"abcd"]
    with pytest.raises(FrameTooLarge):
        framing.feed(b"abcd\rx")


def test_a_line_sent_a_byte_at_a_time_is_not_copied_again_for_each_byte() -> None:
    """Regression: each piece was appended to a copy of the whole line so far, so a
    line that trickled in cost time in the square of its length (over a minute of
    CPU for a megabyte sent one byte per TCP segment)."""
    framing = LineFraming(limit=1 << 20)
    started = time.perf_counter()
    for _ in range(300_000):
        framing.feed(b"x")
    assert framing.feed(b"\n") == [b"x" * 300_000]
    assert time.perf_counter() - started < 5  # tenths of a second now; was over ten


# -- the first line of a TCP connection ---------------------------------------------------


def greeting_line(codec: str, framing: str, space: str, cr: str) -> bytes:
    return f"homer/1 {codec} {framing}{space}{cr}".encode()


def check_greeting(line: bytes, edits: Edits, noise: bytes) -> None:
    greeting = parse_greeting(line)
    assert greeting is not None
    assert line.startswith(f"homer/1 {greeting.codec} {greeting.framing}".encode())
    for data in (spoil(line, edits), noise, b"homer/" + noise):
        try:
            found = parse_greeting(data)
        except GreetingError:
            assert data.startswith(b"homer/")
            continue
        if found is None:
            assert not data.startswith(b"homer/")
        else:
            assert isinstance(found, Greeting)
            assert CODEC_NAME.fullmatch(found.codec)
            assert found.framing in FRAMINGS


_CODEC_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789._+-"


def test_greetings_parse_or_raise_greeting_error() -> None:
    def random_line(rng: Random) -> bytes:
        first = rng.choice(_CODEC_NAME_CHARACTERS[:36])
        rest = "".join(rng.choice(_CODEC_NAME_CHARACTERS) for _ in range(rng.randrange(64)))
        return greeting_line(
            first + rest,
            rng.choice(sorted(FRAMINGS)),
            rng.choice(["", " ", "  "]),
            rng.choice(["", "\r"]),
        )

    fuzz(
        check_greeting,
        {
            "line": st.builds(
                greeting_line,
                st.from_regex(CODEC_NAME, fullmatch=True),
                st.sampled_from(sorted(FRAMINGS)),
                st.sampled_from(["", " ", "  "]),
                st.sampled_from(["", "\r"]),
            ),
            "edits": EDITS,
            "noise": NOISE,
        },
        lambda rng: {
            "line": random_line(rng),
            "edits": random_edits(rng),
            "noise": random_bytes(rng),
        },
        "greeting",
    )


# -- WebSocket ----------------------------------------------------------------------------

#: A message: text or binary, its data, where to split it into fragments, and
#: whether a ping follows its first fragment.
Message = tuple[bool, bytes, list[int], bool]


def client_frame(opcode: int, payload: bytes, mask: bytes, *, fin: bool = True) -> bytes:
    """A masked frame as a client sends it."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 0x10000:
        head = bytes((first, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + size.to_bytes(8, "big")
    key = (mask * (size // 4 + 1))[:size]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
    return head + mask + body


def client_stream(messages: list[Message], mask: bytes) -> bytes:
    stream = b""
    for is_text, data, splits, ping in messages:
        fragments = cut(data, splits) if splits else [data]
        for i, fragment in enumerate(fragments):
            opcode = (TEXT if is_text else BINARY) if i == 0 else CONTINUATION
            stream += client_frame(opcode, fragment, mask, fin=i == len(fragments) - 1)
            if ping and i == 0:
                stream += client_frame(PING, b"ping", mask)
    return stream


def parse_all(limit: int, pieces: list[bytes]) -> tuple[list[Event], int | None]:
    """The events out of ``pieces`` and the close code the parser failed with, if any.
    After each piece, the parser holds no more than its limits."""
    parser = FrameParser(max_message=limit)
    events: list[Event] = []
    for piece in pieces:
        try:
            events += parser.feed(piece)
        except WebSocketError as exc:
            assert exc.close_code in (1002, 1007, 1009)
            events += exc.events
            with pytest.raises(ProtocolViolation):
                parser.feed(b"\x81\x80\x00\x00\x00\x00")  # nothing more once failed
            return events, exc.close_code
        # What it may hold: a header not complete yet, a control frame's payload
        # (at most 125 bytes), a message's (at most the limit).
        assert len(parser._head or b"") < 14
        assert len(parser._ctl or b"") <= 125
        assert sum(map(len, parser._parts or ())) <= limit
    return events, None


def check_websocket(
    messages: list[Message], mask: bytes, limit: int, cuts: list[int], edits: Edits, noise: bytes
) -> None:
    fitting = [message for message in messages if len(message[1]) <= limit]
    sent = [TextMessage(m[1]) if m[0] else BinaryMessage(m[1]) for m in fitting]
    events, failed = parse_all(limit, cut(client_stream(fitting, mask), cuts))
    assert failed is None
    assert [event for event in events if not isinstance(event, Ping)] == sent
    # Spoilt or random: the same events and the same failure, however the bytes are cut.
    for data in (spoil(client_stream(messages, mask), edits), noise):
        assert parse_all(limit, cut(data, cuts)) == parse_all(limit, [data])


def test_websocket_frames_come_back_or_raise_websocket_errors() -> None:
    def random_message(rng: Random) -> Message:
        is_text = rng.random() < 0.5
        data = random_text(rng, 60).encode() if is_text else random_bytes(rng, 60)
        splits = [rng.randrange(61) for _ in range(rng.randrange(3))]
        return is_text, data, splits, rng.random() < 0.3

    fuzz(
        check_websocket,
        {
            "messages": st.lists(
                st.builds(
                    lambda kind_and_data, splits, ping: (*kind_and_data, splits, ping),
                    st.text(max_size=60).map(lambda text: (True, text.encode()))
                    | st.binary(max_size=60).map(lambda data: (False, data)),
                    st.lists(st.integers(0, 60), max_size=2),
                    st.booleans(),
                ),
                max_size=5,
            ),
            "mask": st.binary(min_size=4, max_size=4),
            "limit": st.integers(0, 80),
            "cuts": CUTS,
            "edits": EDITS,
            "noise": NOISE,
        },
        lambda rng: {
            "messages": [random_message(rng) for _ in range(rng.randrange(6))],
            "mask": rng.randbytes(4),
            "limit": rng.randrange(81),
            "cuts": random_cuts(rng),
            "edits": random_edits(rng),
            "noise": random_bytes(rng),
        },
        "websocket",
    )


def spoilt_text(value: str, edits: Edits) -> str:
    return spoil(value.encode("latin-1"), edits).decode("latin-1")


VALID_UPGRADE = {"upgrade": "websocket", "connection": "keep-alive, Upgrade", "version": "13"}


def check_handshake(
    method: str,
    key: str,
    upgrade: str | None,
    connection: str | None,
    version: str | None,
    key_edits: Edits | None,
    other: dict[str, str],
) -> None:
    valid = {
        "upgrade": VALID_UPGRADE["upgrade"],
        "connection": VALID_UPGRADE["connection"],
        "sec-websocket-version": VALID_UPGRADE["version"],
        "sec-websocket-key": key,
    }
    assert check_upgrade("GET", valid) == key
    headers = {
        **other,
        "upgrade": upgrade,
        "connection": connection,
        "sec-websocket-version": version,
        "sec-websocket-key": key if key_edits is None else spoilt_text(key, key_edits),
    }
    present = {name: value for name, value in headers.items() if value is not None}
    try:
        found = check_upgrade(method, present)
    except HandshakeError as exc:
        assert exc.status in (400, 426)
        assert exc.response().startswith(f"HTTP/1.1 {exc.status} ".encode())
        return
    assert len(base64.b64decode(found, validate=True)) == 16
    assert accept_key(found) in handshake_response(found).decode("latin-1")


_ESCAPED = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF, categories=["Cs"])
_HEADER_TEXT = (
    st.text(st.characters(max_codepoint=255), max_size=30)
    | st.text(max_size=10)
    | st.text(st.characters(max_codepoint=127) | _ESCAPED, max_size=10)
)


def _header(value: str) -> st.SearchStrategy[str | None]:
    """A header as it should be, missing, replaced, or spoilt."""
    return (
        st.sampled_from([value, value, None])
        | _HEADER_TEXT
        | st.builds(spoilt_text, st.just(value), EDITS)
    )


def test_handshakes_give_the_key_or_raise_handshake_error() -> None:
    def random_header(rng: Random, value: str) -> str | None:
        return rng.choice(
            [
                value,
                value,
                None,
                random_text(rng, 30, escaped=True),
                random_bytes(rng, 30).decode("latin-1"),
                spoilt_text(value, random_edits(rng)),
            ]
        )

    fuzz(
        check_handshake,
        {
            "method": st.sampled_from(["GET", "GET", "POST", "get"]) | _HEADER_TEXT,
            "key": st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode()),
            **{name: _header(value) for name, value in VALID_UPGRADE.items()},
            "key_edits": st.none() | EDITS,
            "other": st.dictionaries(_HEADER_TEXT, _HEADER_TEXT, max_size=2),
        },
        lambda rng: {
            "method": rng.choice(["GET", "GET", "POST", "get", random_text(rng, 6, escaped=True)]),
            "key": base64.b64encode(rng.randbytes(16)).decode(),
            **{name: random_header(rng, value) for name, value in VALID_UPGRADE.items()},
            "key_edits": rng.choice([None, random_edits(rng)]),
            "other": {
                random_text(rng, 10, escaped=True): random_text(rng, 30, escaped=True)
                for _ in range(rng.randrange(3))
            },
        },
        "handshake",
    )


def test_a_refused_handshake_renders_whatever_the_method_held() -> None:
    """Regression: the 400 quotes the method, and a lone surrogate in it (undecodable
    bytes, escaped) made rendering the response raise UnicodeEncodeError."""
    with pytest.raises(HandshakeError) as refused:
        check_upgrade("G\udcffT", {})
    assert refused.value.response().endswith(b"not G\\udcffT")


# -- requests -----------------------------------------------------------------------------


def check_request(
    op: str, rid: str | int | None, params: dict[str, Any], document: Any, edits: Edits
) -> None:
    assert parse_request({"op": op, "rid": rid, **params}) == Request(op, rid, params)
    # Any document, and what JSON makes of a spoilt request.
    candidates = [document]
    try:
        wire = msgspec.json.encode({"op": op, "rid": rid, **params})
    except ValueError:  # an integer too wide for JSON
        wire = msgspec.json.encode({"op": op, "rid": rid})
    with contextlib.suppress(DecodeError):
        candidates.append(JSONCodec().decode(spoil(wire, edits)))
    for candidate in candidates:
        try:
            request = parse_request(candidate)
        except BadRequest as exc:
            assert exc.rid is None or isinstance(exc.rid, str | int)
            continue
        assert isinstance(request.op, str)
        assert request.op
        assert request.rid is None or len(f"{request.rid}") <= 64
        assert "op" not in request.params
        assert "rid" not in request.params


#: Integers of every width, some too wide to be written out in decimal at all.
_INTEGERS = (
    st.integers()
    | st.integers(-(2**70), 2**70)
    | st.builds(lambda digits: 10**digits, st.integers(0, 5000))
    | st.builds(lambda digits: -(10**digits), st.integers(0, 5000))
)
_ANY_LEAVES = (
    st.none()
    | st.booleans()
    | _INTEGERS
    | st.floats()
    | st.text(max_size=70)
    | st.binary(max_size=8)
)
_ANY = st.recursive(
    _ANY_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)


def random_leaf(rng: Random) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return random_int(rng)
    if kind == 2:
        return rng.choice([-1, 1]) * 10 ** rng.randrange(5000)
    if kind == 3:
        return rng.choice([float("nan"), float("inf"), rng.random()])
    if kind == 4:
        return rng.randbytes(rng.randrange(8))
    if kind == 5:
        return random_value(rng)
    return random_text(rng, 70)


def random_document(rng: Random) -> Any:
    if rng.random() < 0.2:
        return random_leaf(rng)
    document = {random_text(rng, 6): random_leaf(rng) for _ in range(rng.randrange(3))}
    for name in ("op", "rid"):
        if rng.random() < 0.7:
            document[name] = random_leaf(rng) if rng.random() < 0.5 else random_text(rng, 70)
    return document


def test_requests_parse_or_raise_bad_request() -> None:
    fuzz(
        check_request,
        {
            "op": st.text(min_size=1, max_size=12),
            "rid": st.none() | st.text(max_size=64) | st.integers(-(10**63) + 1, 10**64 - 1),
            "params": st.dictionaries(
                _TEXT.filter(lambda k: k not in ("op", "rid")), _ANY, max_size=3
            ),
            "document": _ANY
            | st.builds(
                lambda op, rid, rest: {**rest, **op, **rid},
                st.fixed_dictionaries({}, optional={"op": _ANY_LEAVES}),
                st.fixed_dictionaries({}, optional={"rid": _ANY_LEAVES}),
                st.dictionaries(_TEXT, _ANY, max_size=3),
            ),
            "edits": EDITS,
        },
        lambda rng: {
            "op": random_text(rng, least=1),
            "rid": rng.choice([None, random_text(rng, 64), rng.randrange(-(10**63) + 1, 10**64)]),
            "params": {
                key: random_leaf(rng)
                for key in (random_text(rng, 6) for _ in range(rng.randrange(4)))
                if key not in ("op", "rid")
            },
            "document": random_document(rng),
            "edits": random_edits(rng),
        },
        "request",
    )


def test_a_huge_integer_request_id_is_a_bad_request() -> None:
    """Regression: the length of an integer id was measured by writing it out, which
    raises ValueError past 4300 digits (another codec may decode such integers)."""
    with pytest.raises(BadRequest) as refused:
        parse_request({"op": "ping", "rid": 10**5000})
    assert refused.value.rid is None
    assert parse_request({"op": "ping", "rid": -(10**63) + 1}).rid == -(10**63) + 1
    with pytest.raises(BadRequest):
        parse_request({"op": "ping", "rid": -(10**63)})  # 65 characters with its sign


# -- the resume cursor --------------------------------------------------------------------

Positions = dict[str, tuple[int, int]]


def check_cursor(positions: Positions, edits: Edits, noise: str, repeat: int) -> None:
    text = ",".join(encode_position(room, *at) for room, at in positions.items())
    decoded = decode_cursor(text)
    assert {room: (p.epoch, p.seq) for room, p in decoded.items()} == positions
    # Header values may hold lone surrogates (undecodable bytes, escaped).
    spoilt = spoil(text.encode("utf-8", "surrogatepass"), edits).decode("utf-8", "surrogateescape")
    for candidate in (spoilt, noise, ",".join([spoilt] * repeat)):
        try:
            found = decode_cursor(candidate)
        except InvalidInput:
            continue
        assert len(candidate) <= MAX_CURSOR
        for room, position in found.items():
            assert 1 <= len(room) <= 64
            assert "," not in room
            assert "~" not in room
            assert 0 <= position.epoch < 10**18
            assert 0 <= position.seq < 10**18


_CURSOR_CHARACTERS = "ab~,0123456789 é"


def test_cursors_decode_or_raise_invalid_input() -> None:
    def random_room(rng: Random) -> str:
        room = random_text(rng, 64, least=1).replace(",", "x").replace("~", "y")
        return room if room else "r"

    def random_noise(rng: Random) -> str:
        if rng.random() < 0.5:
            return random_text(rng, 300, escaped=True)
        return "".join(rng.choice(_CURSOR_CHARACTERS) for _ in range(rng.randrange(300)))

    fuzz(
        check_cursor,
        {
            "positions": st.dictionaries(
                st.text(st.characters(blacklist_characters=",~"), min_size=1, max_size=64),
                st.tuples(st.integers(0, 10**18 - 1), st.integers(0, 10**18 - 1)),
                max_size=4,
            ),
            "edits": EDITS,
            "noise": st.text(max_size=300) | st.text(_CURSOR_CHARACTERS, max_size=300),
            "repeat": st.integers(0, 700),
        },
        lambda rng: {
            "positions": {
                random_room(rng): (rng.randrange(10**18), rng.randrange(10**18))
                for _ in range(rng.randrange(5))
            },
            "edits": random_edits(rng),
            "noise": random_noise(rng),
            "repeat": rng.randrange(701),
        },
        "cursor",
    )


# -- IRC lines ----------------------------------------------------------------------------


def read_irc(pieces: list[bytes]) -> list[str | type[IrcError]]:
    """Every line out of ``pieces`` (errors by their type); after each piece the
    reader holds no more than its limit."""
    reader = LineReader()
    out: list[str | type[IrcError]] = []
    for piece in pieces:
        out += [item if isinstance(item, str) else type(item) for item in reader.feed(piece)]
        assert len(reader._pending) <= reader.limit
    return out


def parse_and_render(line: str) -> None:
    """``line`` parses, or raises IrcSyntaxError; what it parses to renders to a line
    the reader takes back as it is, which parses to the same message."""
    try:
        message = parse(line)
    except IrcSyntaxError:
        return
    wire = render(message.command, *message.params, source=message.source, tags=message.tags)
    assert read_irc([wire]) == [wire[:-2].decode()]
    again = parse(wire[:-2].decode())
    assert again == IrcMessage(
        message.command, message.params, message.tags or None, message.source
    )


def check_irc(
    lines: list[str], endings: list[bool], cuts: list[int], edits: Edits, noise: bytes, repeat: int
) -> None:
    # Lines of up to 510 bytes come back as they went, but for blank ones.
    lines = [line.replace("\r", "").replace("\n", "") for line in lines]
    wire = b"".join(
        line.encode() + (b"\r\n" if crlf else b"\n")
        for line, crlf in zip(lines, endings + [True] * len(lines), strict=False)
    )
    expected = [line for line in lines if line.strip(" ")]
    assert read_irc(cut(wire, cuts)) == expected
    for line in expected:
        parse_and_render(line)
    spoilt = spoil(wire, edits)
    # And one line long enough to be refused, then the lines again.
    for data in (spoilt, noise, spoilt.replace(b"\n", b"") * repeat + b"\n" + spoilt):
        whole = read_irc([data])
        assert read_irc(cut(data, cuts)) == whole, "different lines depending on the cut"
        for line in whole:
            if isinstance(line, str):
                parse_and_render(line)


#: What IRC lines are made of, often, and text of any kind now and then.
_IRC_CHARACTERS = "@:;= \\/+-.!#aZ09\t\x00\r\u00e9\U0001f600"
_IRC_WORDS = ["@", "@a=b;+c/d=e\\s", ":nick!u@h ", "PRIVMSG", "PING", "001", " :", "  ", "\\"]


def random_irc_line(rng: Random) -> str:
    parts = [
        rng.choice(_IRC_WORDS)
        if rng.random() < 0.4
        else "".join(rng.choice(_IRC_CHARACTERS) for _ in range(rng.randrange(12)))
        for _ in range(rng.randrange(8))
    ]
    if rng.random() < 0.2:
        parts.append(random_text(rng, 20))
    return "".join(parts)[:120]


def test_irc_lines_come_back_or_raise_irc_errors() -> None:
    fuzz(
        check_irc,
        {
            "lines": st.lists(
                st.lists(st.sampled_from(_IRC_WORDS), max_size=4).map("".join)
                | st.text(_IRC_CHARACTERS, max_size=60)
                | st.text(max_size=40),
                max_size=6,
            ),
            "endings": st.lists(st.booleans(), max_size=6),
            "cuts": CUTS,
            "edits": EDITS,
            "noise": NOISE,
            "repeat": st.integers(0, 40),
        },
        lambda rng: {
            "lines": [random_irc_line(rng) for _ in range(rng.randrange(7))],
            "endings": [rng.random() < 0.7 for _ in range(6)],
            "cuts": random_cuts(rng),
            "edits": random_edits(rng),
            "noise": random_bytes(rng),
            "repeat": rng.randrange(41),
        },
        "irc",
    )


# -- MQTT packets -------------------------------------------------------------------------

#: Small, so that spoilt lengths reach it.
MQTT_LIMIT = 512
MQTT_CONNECTS = {
    V311: encode(Connect(V311, "fuzz", keep_alive=30), V311),
    V5: encode(Connect(V5, "fuzz", properties=Properties(receive_maximum=10)), V5),
}
_USER = Properties(user_properties=[("k", "v")])
#: A client's packets after its CONNECT (3.1.1 drops the properties and reasons).
MQTT_PACKETS: list[Packet] = [
    Publish("a/b", b"hello", 1, packet_id=7, properties=Properties(content_type="t")),
    Publish("a/\u00e9", b"", 2, True, True, 9, Properties(topic_alias=2)),
    Publish("x", b"\x00" * 40, retain=True),
    Subscribe(3, [Subscription("a/#", 1), Subscription("$share/g/+", 2)], _USER),
    Subscribe(5, [Subscription("+/b", 0, False, False, 1)], Properties(subscription_ids=[4])),
    Unsubscribe(4, ["a/#", "+"], _USER),
    PubAck(7, 0x10, Properties(reason_string="r")),
    PubRec(8),
    PubRel(8, 0x92),
    PubComp(8),
    PingReq(),
    Disconnect(0x04, Properties(session_expiry=1)),
]

MqttItem = Packet | tuple[type[MqttError], str]


def read_mqtt(pieces: list[bytes]) -> tuple[list[MqttItem], int | None]:
    """Every packet out of ``pieces`` (an error by its type and message) and the
    version; after each piece the reader holds no more than its limit."""
    reader = PacketReader(MQTT_LIMIT)
    out: list[MqttItem] = []
    for piece in pieces:
        for item in reader.feed(piece):
            out.append((type(item), str(item)) if isinstance(item, MqttError) else item)
        assert len(reader._pending) <= MQTT_LIMIT
    return out, reader.version


def check_mqtt(
    version: int, chosen: list[int], cuts: list[int], edits: Edits, noise: bytes
) -> None:
    packets = [MQTT_PACKETS[index % len(MQTT_PACKETS)] for index in chosen]
    if version != V5:
        packets = [packet for packet in packets if not isinstance(packet, Auth)]
    connect = MQTT_CONNECTS[version]
    body = b"".join(encode(packet, version) for packet in packets)
    expected = [decode(connect, version)] + [decode(encode(p, version), version) for p in packets]
    assert read_mqtt(cut(connect + body, cuts)) == (expected, version)
    for data in (connect + spoil(body, edits), connect + noise, spoil(connect + body, edits)):
        whole, taken = read_mqtt([data])
        assert read_mqtt(cut(data, cuts)) == (whole, taken), (
            "different packets depending on the cut"
        )
        for index, item in enumerate(whole):
            if isinstance(item, tuple):
                assert index == len(whole) - 1, "a packet after an error"
                continue
            assert taken is not None
            assert decode(encode(item, taken), taken) == item


def test_the_mqtt_seeds_are_taken_whole_in_both_versions() -> None:
    everything = list(range(len(MQTT_PACKETS)))
    for version in (V311, V5):
        out, taken = read_mqtt(
            [MQTT_CONNECTS[version]] + [encode(packet, version) for packet in MQTT_PACKETS]
        )
        assert taken == version
        assert not any(isinstance(item, tuple) for item in out)
        assert len(out) == 1 + len(everything)


def test_mqtt_packets_come_back_or_raise_mqtt_errors() -> None:
    fuzz(
        check_mqtt,
        {
            "version": st.sampled_from([V311, V5]),
            "chosen": st.lists(st.integers(0, 255), max_size=6),
            "cuts": CUTS,
            "edits": EDITS,
            "noise": NOISE,
        },
        lambda rng: {
            "version": rng.choice([V311, V5]),
            "chosen": [rng.randrange(256) for _ in range(rng.randrange(7))],
            "cuts": random_cuts(rng),
            "edits": random_edits(rng),
            "noise": random_bytes(rng),
        },
        "mqtt",
    )
