"""The sans-I/O WebSocket core: the handshake, server frames, and every rule of the parser."""

from __future__ import annotations

import dataclasses
import os
import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homer.protocol.websocket import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    BinaryMessage,
    CloseReceived,
    Event,
    FrameParser,
    HandshakeError,
    InvalidUTF8,
    MessageTooBig,
    Ping,
    Pong,
    ProtocolViolation,
    TextMessage,
    WebSocketError,
    accept_key,
    binary_frame,
    check_upgrade,
    close_frame,
    encode_frame,
    handshake_response,
    ping_frame,
    pong_frame,
    text_frame,
)

# -- a client, as far as the tests need one ------------------------------------------------


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    mask: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """A frame as a client sends it: masked, with ``length`` to lie about the size."""
    size = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    bit = 0x80 if masked else 0
    if size < 126:
        head = bytes((first, bit | size))
    elif size < 0x10000:
        head = struct.pack("!BBH", first, bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, bit | 127, size)
    if not masked:
        return head + payload
    key = os.urandom(4) if mask is None else mask
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + body


def feed_bytewise(parser: FrameParser, data: bytes) -> list[Event]:
    events: list[Event] = []
    for i in range(len(data)):
        events += parser.feed(data[i : i + 1])
    return events


def violation(data: bytes, error: type[WebSocketError] = ProtocolViolation) -> WebSocketError:
    """Feed ``data`` whole and byte by byte; both must fail the same way."""
    with pytest.raises(error) as whole:
        FrameParser().feed(data)
    with pytest.raises(error):
        feed_bytewise(FrameParser(), data)
    return whole.value


# -- the opening handshake ----------------------------------------------------------------

KEY = "dGhlIHNhbXBsZSBub25jZQ=="

HEADERS = {
    "host": "example.com",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
}


def test_accept_key_is_the_rfc_example() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_valid_upgrade_returns_the_key() -> None:
    assert check_upgrade("GET", HEADERS) == KEY


def test_upgrade_and_connection_are_token_lists_in_any_case() -> None:
    headers = {**HEADERS, "upgrade": "h2c, WebSocket", "connection": "keep-alive, UPGRADE"}
    assert check_upgrade("GET", headers) == KEY


@pytest.mark.parametrize(
    ("method", "changes"),
    [
        ("POST", {}),
        ("GET", {"upgrade": None}),
        ("GET", {"upgrade": "h2c"}),
        ("GET", {"connection": None}),
        ("GET", {"connection": "keep-alive"}),
        ("GET", {"sec-websocket-version": None}),
        ("GET", {"sec-websocket-key": None}),
        ("GET", {"sec-websocket-key": "not base64!"}),
        ("GET", {"sec-websocket-key": "AAAAAAAAAAAAAAAAAAAA"}),  # 15 bytes
        ("GET", {"sec-websocket-key": "AAAAAAAAAAAAAAAAAAAAAAAAAA=="}),  # 19 bytes
    ],
)
def test_a_bad_handshake_is_a_400(method: str, changes: dict[str, str | None]) -> None:
    headers = {**HEADERS, **changes}
    present = {name: value for name, value in headers.items() if value is not None}
    with pytest.raises(HandshakeError) as raised:
        check_upgrade(method, present)
    assert raised.value.status == 400
    assert raised.value.headers == ()
    assert raised.value.response().startswith(b"HTTP/1.1 400 Bad Request\r\n")


@pytest.mark.parametrize("version", ["8", "12", "14", "13, 8"])
def test_another_version_is_a_426_naming_13(version: str) -> None:
    with pytest.raises(HandshakeError) as raised:
        check_upgrade("GET", {**HEADERS, "sec-websocket-version": version})
    error = raised.value
    assert error.status == 426
    assert error.headers == (("Sec-WebSocket-Version", "13"),)
    response = error.response()
    assert response.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in response
    head, body = response.split(b"\r\n\r\n")
    assert f"Content-Length: {len(body)}".encode() in head


def test_the_101_response_is_exact() -> None:
    assert handshake_response(KEY) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )


def test_the_101_response_carries_the_subprotocol_and_extra_headers() -> None:
    response = handshake_response(KEY, subprotocol="homer.v1", extra_headers=[("Server", "h")])
    assert response.endswith(b"Sec-WebSocket-Protocol: homer.v1\r\nServer: h\r\n\r\n"), response


@pytest.mark.parametrize(
    "header", [("X-A", "b\r\nSet-Cookie: c"), ("X-A\r\n", "b"), ("", "b"), ("X:A", "b")]
)
def test_the_101_response_refuses_header_injection(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="invalid response header"):
        handshake_response(KEY, extra_headers=[header])
    with pytest.raises(ValueError, match="invalid response header"):
        handshake_response(KEY, subprotocol="a\nb")


# -- encoding server frames -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_frame_lengths_use_the_shortest_encoding(size: int, header: bytes) -> None:
    payload = b"x" * size
    assert encode_frame(TEXT, payload) == header + payload
    assert text_frame(payload) == header + payload


def test_frames_are_unmasked_and_carry_fin_and_opcode() -> None:
    assert encode_frame(TEXT, b"ab", fin=False) == b"\x01\x02ab"
    assert encode_frame(CONTINUATION, b"c") == b"\x80\x01c"
    assert binary_frame(b"\x00") == b"\x82\x01\x00"
    assert ping_frame(b"p") == b"\x89\x01p"
    assert pong_frame() == b"\x8a\x00"
    assert close_frame(1000) == b"\x88\x02\x03\xe8"
    assert close_frame(1001, "bye ✓") == b"\x88\x09\x03\xe9" + "bye ✓".encode()
    assert close_frame(1013)[2:4] == (1013).to_bytes(2, "big")  # try again later


@pytest.mark.parametrize(
    ("opcode", "payload", "fin"),
    [(3, b"", True), (0xB, b"", True), (16, b"", True), (PING, b"", False),
     (PING, b"x" * 126, True), (CLOSE, b"x" * 200, True)],
)  # fmt: skip
def test_impossible_frames_are_not_encoded(opcode: int, payload: bytes, fin: bool) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        encode_frame(opcode, payload, fin=fin)


@pytest.mark.parametrize("code", [0, 999, 1005, 1006, 1015, 2000, 5000])
def test_close_frame_refuses_codes_that_are_never_sent(code: int) -> None:
    with pytest.raises(ValueError, match=str(code)):
        close_frame(code)


def test_a_close_reason_over_123_bytes_is_refused() -> None:
    assert len(close_frame(1000, "x" * 123)) == 127
    with pytest.raises(ValueError, match="123"):
        close_frame(1000, "x" * 124)


def test_what_the_server_encodes_the_parser_reads_once_masked() -> None:
    """The same bytes, masked as a client would, parse back to the message."""
    for frame, event in [
        (text_frame("héllo".encode()), TextMessage("héllo".encode())),
        (binary_frame(bytes(300)), BinaryMessage(bytes(300))),
        (close_frame(4000, "done"), CloseReceived(4000, "done")),
    ]:
        header_size = 2 if frame[1] < 126 else 4
        head, payload = frame[:header_size], frame[header_size:]
        masked = bytes((head[0], head[1] | 0x80)) + head[2:] + b"\0\0\0\0" + payload
        assert FrameParser().feed(masked) == [event]


# -- parsing: what a client may send ----------------------------------------------------------


def test_the_events_are_small_frozen_values() -> None:
    message = TextMessage(b"a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.data = b"b"  # type: ignore[misc]
    assert not hasattr(message, "__dict__")
    assert TextMessage(b"a") == TextMessage(b"a")
    other: object = BinaryMessage(b"a")
    assert message != other


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        (client_frame(TEXT, b"hello"), TextMessage(b"hello")),
        (client_frame(TEXT, "κόσμε".encode()), TextMessage("κόσμε".encode())),
        (client_frame(TEXT), TextMessage(b"")),
        (client_frame(BINARY, b"\x00\xff"), BinaryMessage(b"\x00\xff")),
        (client_frame(BINARY), BinaryMessage(b"")),
        (client_frame(PING, b"p" * 125), Ping(b"p" * 125)),
        (client_frame(PING), Ping(b"")),
        (client_frame(PONG, b"q"), Pong(b"q")),
        (client_frame(CLOSE), CloseReceived(None, "")),
        (client_frame(CLOSE, b"\x03\xe8"), CloseReceived(1000, "")),
        (client_frame(CLOSE, b"\x0f\xa0" + "ciao ✓".encode()), CloseReceived(4000, "ciao ✓")),
    ],
    # Named by the event: the frames' random masks would give every run other ids.
    ids=lambda value: "frame" if isinstance(value, bytes) else repr(value)[:48],
)
def test_one_frame_one_event(frame: bytes, event: Event) -> None:
    assert FrameParser().feed(frame) == [event]
    assert feed_bytewise(FrameParser(), frame) == [event]


@pytest.mark.parametrize("size", [125, 126, 1000, 1024, 4097, 65535, 65536, 200_001])
def test_every_length_encoding_and_both_unmasking_paths(size: int) -> None:
    payload = os.urandom(size)
    frame = client_frame(BINARY, payload)
    assert FrameParser().feed(frame) == [BinaryMessage(payload)]
    parser = FrameParser()
    events: list[Event] = []
    for start in range(0, len(frame), 999):  # pieces that cut the mask at every phase
        events += parser.feed(frame[start : start + 999])
    assert events == [BinaryMessage(payload)]


def test_the_mask_key_may_be_zero() -> None:
    assert FrameParser().feed(client_frame(TEXT, b"abc", mask=bytes(4))) == [TextMessage(b"abc")]


STREAM = b"".join(
    [
        client_frame(TEXT, b"frag", fin=False),
        client_frame(PING, b"in between"),
        client_frame(CONTINUATION, "mént".encode(), fin=False),
        client_frame(CONTINUATION, b"", fin=False),
        client_frame(PONG),
        client_frame(CONTINUATION, b"ed", fin=True),
        client_frame(BINARY, bytes(range(256)) * 2),
        client_frame(BINARY, b"\x01", fin=False),
        client_frame(CONTINUATION, b"\x02"),
        client_frame(TEXT, b"x" * 300),
        client_frame(CLOSE, b"\x03\xe9going"),
    ]
)
STREAM_EVENTS: list[Event] = [
    Ping(b"in between"),
    Pong(b""),
    TextMessage("fragménted".encode()),
    BinaryMessage(bytes(range(256)) * 2),
    BinaryMessage(b"\x01\x02"),
    TextMessage(b"x" * 300),
    CloseReceived(1001, "going"),
]


def test_many_frames_in_one_chunk() -> None:
    assert FrameParser().feed(STREAM) == STREAM_EVENTS


def test_a_stream_fed_one_byte_at_a_time() -> None:
    assert feed_bytewise(FrameParser(), STREAM) == STREAM_EVENTS


def test_a_stream_split_in_two_at_every_byte() -> None:
    for cut in range(len(STREAM) + 1):
        parser = FrameParser()
        events = parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:])
        assert events == STREAM_EVENTS, cut


def test_empty_input_is_harmless() -> None:
    parser = FrameParser()
    assert parser.feed(b"") == []
    frame = client_frame(TEXT, b"hi")
    assert parser.feed(frame[:3]) == []
    assert parser.feed(b"") == []
    assert parser.feed(frame[3:]) == [TextMessage(b"hi")]


def test_bytes_after_a_close_are_ignored() -> None:
    parser = FrameParser()
    frames = client_frame(CLOSE, b"\x03\xe8") + client_frame(TEXT, b"late") + b"\xff\xff"
    assert parser.feed(frames) == [CloseReceived(1000, "")]
    assert parser.feed(client_frame(TEXT, b"later")) == []
    assert parser.feed(b"garbage") == []


# -- parsing: what a client may not send ------------------------------------------------------


def test_a_client_frame_must_be_masked() -> None:
    error = violation(client_frame(TEXT, b"hi", masked=False))
    assert error.close_code == 1002
    assert "masked" in error.reason


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_rsv_bits_must_be_clear(rsv: int) -> None:
    assert "RSV" in violation(client_frame(TEXT, b"hi", rsv=rsv)).reason


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_refused(opcode: int) -> None:
    assert "opcode" in violation(client_frame(opcode, b"")).reason


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_control_frames_are_short_and_whole(opcode: int) -> None:
    assert "125" in violation(client_frame(opcode, b"\x03\xe8" + b"x" * 124)).reason
    assert "fragmented" in violation(client_frame(opcode, b"", fin=False)).reason


def test_a_violation_is_seen_from_the_first_two_bytes() -> None:
    """Fail fast: neither the extended length, the mask nor the payload is waited for."""
    for frame in [
        client_frame(PING, b"x" * 126),
        client_frame(TEXT, b"x" * 70000, masked=False),
        client_frame(CONTINUATION, b"x" * 70000),
        client_frame(5, b"x" * 200),
    ]:
        parser = FrameParser()
        assert parser.feed(frame[:1]) == []
        with pytest.raises(ProtocolViolation):
            parser.feed(frame[1:2])


def test_a_continuation_needs_a_message_to_continue() -> None:
    violation(client_frame(CONTINUATION, b"x"))
    violation(client_frame(CONTINUATION, b"x", fin=False))
    # Nor after the message it might have continued has ended.
    violation(client_frame(TEXT, b"a", fin=False) + client_frame(CONTINUATION, b"b")
              + client_frame(CONTINUATION, b"c"))  # fmt: skip


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_no_new_message_while_one_is_in_progress(opcode: int) -> None:
    started = client_frame(TEXT, b"a", fin=False) + client_frame(PING)
    assert "began" in violation(started + client_frame(opcode, b"b")).reason


def test_the_64_bit_length_has_its_high_bit_clear() -> None:
    frame = client_frame(BINARY, b"", length=1 << 63)
    assert "high bit" in violation(frame).reason


def test_the_high_bit_is_checked_before_the_size_limit() -> None:
    with pytest.raises(ProtocolViolation):
        FrameParser(max_message=1 << 70).feed(client_frame(BINARY, length=(1 << 64) - 1))


def test_invalid_utf8_in_one_frame_is_1007() -> None:
    error = violation(client_frame(TEXT, b"abc\xff"), InvalidUTF8)
    assert error.close_code == 1007
    violation(client_frame(TEXT, b"\xed\xa0\x80"), InvalidUTF8)  # a surrogate
    violation(client_frame(TEXT, b"\xc0\xaf"), InvalidUTF8)  # overlong


def test_a_sequence_may_be_split_across_fragments() -> None:
    data = "a€b".encode()  # € is three bytes: split it after its first
    frames = client_frame(TEXT, data[:2], fin=False) + client_frame(CONTINUATION, data[2:])
    assert FrameParser().feed(frames) == [TextMessage(data)]
    assert feed_bytewise(FrameParser(), frames) == [TextMessage(data)]


def test_a_message_that_ends_inside_a_sequence_is_invalid() -> None:
    violation(client_frame(TEXT, "€".encode()[:2]), InvalidUTF8)
    violation(client_frame(TEXT, b"ok", fin=False) + client_frame(CONTINUATION, b"\xe2\x82"),
              InvalidUTF8)  # fmt: skip


#: Autobahn's valid prefix: κόσμε, with U+1F79 (three bytes) for the ό.
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"


@pytest.mark.parametrize(
    "bad",
    [b"\xf4\x90\x80\x80", b"\xed\xa0\x80", b"\xff", b"\xe0\x80\x80", b"\xf8\x88\x80\x80\x80"],
)
def test_invalid_utf8_fails_fast_in_a_fragmented_message(bad: bytes) -> None:
    """Autobahn 6.4: refuse at the fragment, even the byte, that cannot be valid any more."""
    parser = FrameParser()
    assert parser.feed(client_frame(TEXT, KOSME, fin=False)) == []
    with pytest.raises(InvalidUTF8):
        parser.feed(client_frame(CONTINUATION, bad[:2], fin=False))


@pytest.mark.parametrize("bad", [b"\xf4\x90", b"\xed\xa0", b"\xff"])
def test_invalid_utf8_fails_fast_in_a_frame_that_is_still_arriving(bad: bytes) -> None:
    payload = KOSME + bad + b"\x80\x80edited"
    frame = client_frame(TEXT, payload)
    parser = FrameParser()
    start = 6 + len(KOSME)  # header, mask, the valid part
    assert parser.feed(frame[:start]) == []
    with pytest.raises(InvalidUTF8):
        parser.feed(frame[start : start + len(bad)])


def test_the_close_payload_is_empty_or_a_code() -> None:
    assert "2 bytes" in violation(client_frame(CLOSE, b"\x03")).reason


VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000,
                     4999]  # fmt: skip
INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000,
                       2999, 5000, 65535]  # fmt: skip


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_valid_close_codes(code: int) -> None:
    frame = client_frame(CLOSE, code.to_bytes(2, "big") + b"why")
    assert FrameParser().feed(frame) == [CloseReceived(code, "why")]


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_invalid_close_codes(code: int) -> None:
    error = violation(client_frame(CLOSE, code.to_bytes(2, "big")))
    assert error.close_code == 1002
    assert str(code) in error.reason


def test_a_close_reason_is_utf8() -> None:
    violation(client_frame(CLOSE, b"\x03\xe8\xce\xba\xff"), InvalidUTF8)


def test_a_message_over_the_limit_is_refused_from_its_header() -> None:
    parser = FrameParser(max_message=100)
    frame = client_frame(BINARY, b"x" * 101)
    with pytest.raises(MessageTooBig) as raised:
        parser.feed(frame[:6])  # the header alone
    assert raised.value.close_code == 1009
    huge = client_frame(TEXT, length=1 << 40)[:14]
    with pytest.raises(MessageTooBig):
        FrameParser().feed(huge)


def test_the_limit_counts_every_fragment() -> None:
    parser = FrameParser(max_message=10)
    assert parser.feed(client_frame(TEXT, b"12345", fin=False)) == []
    assert parser.feed(client_frame(PING, b"control frames do not count")) == [
        Ping(b"control frames do not count")
    ]
    assert parser.feed(client_frame(CONTINUATION, b"67890", fin=False)) == []
    with pytest.raises(MessageTooBig):
        parser.feed(client_frame(CONTINUATION, b"x")[:6])


def test_a_message_of_exactly_the_limit_passes_and_the_count_restarts() -> None:
    parser = FrameParser(max_message=10)
    for _ in range(3):
        frames = client_frame(BINARY, b"12345", fin=False) + client_frame(CONTINUATION, b"67890")
        assert parser.feed(frames) == [BinaryMessage(b"1234567890")]


def test_after_an_error_the_parser_is_finished() -> None:
    parser = FrameParser()
    with pytest.raises(ProtocolViolation):
        parser.feed(client_frame(TEXT, b"x", masked=False))
    with pytest.raises(ProtocolViolation, match="already failed"):
        parser.feed(client_frame(TEXT, b"fine"))
    with pytest.raises(ProtocolViolation, match="already failed"):
        parser.feed(b"")


def test_events_before_the_error_travel_with_it() -> None:
    """Autobahn 4.1.3, 5.15: the valid messages before a violation are still delivered."""
    data = client_frame(TEXT, b"Hello") + client_frame(PING, b"p") + client_frame(5)
    with pytest.raises(ProtocolViolation) as raised:
        FrameParser().feed(data)
    assert raised.value.events == [TextMessage(b"Hello"), Ping(b"p")]


# -- memory ---------------------------------------------------------------------------------


def _buffers(parser: FrameParser) -> list[object]:
    return [parser._head, parser._mask, parser._parts, parser._utf8, parser._ctl]


def test_an_idle_parser_holds_no_buffer() -> None:
    parser = FrameParser()
    assert _buffers(parser) == [None] * 5
    assert not hasattr(parser, "__dict__")
    assert sys.getsizeof(parser) <= 128
    # Partly through a fragmented text message, it holds what it must...
    middle = client_frame(CONTINUATION, b"", fin=False)
    parser.feed(client_frame(TEXT, "é".encode(), fin=False) + middle[:3])
    assert parser._parts is not None
    assert parser._utf8 is not None
    assert parser._head is not None
    # ...and once the message is whole, nothing again.
    assert parser.feed(middle[3:] + client_frame(CONTINUATION, b"!")) == [
        TextMessage("é!".encode())
    ]
    assert _buffers(parser) == [None] * 5
    parser.feed(client_frame(PING, b"12345678")[:9])
    assert parser._ctl is not None
    parser.feed(client_frame(PING, b"12345678")[9:])
    assert _buffers(parser) == [None] * 5


# -- properties -----------------------------------------------------------------------------


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


MESSAGES = st.lists(
    st.one_of(
        st.text(max_size=300).map(lambda s: TextMessage(s.encode())),
        st.binary(max_size=300).map(BinaryMessage),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(messages=MESSAGES, data=st.data())
def test_random_messages_fragmented_and_chunked_come_back_whole(
    messages: list[TextMessage | BinaryMessage], data: st.DataObject
) -> None:
    stream = b""
    for message in messages:
        opcode = TEXT if isinstance(message, TextMessage) else BINARY
        cuts = data.draw(st.lists(st.integers(0, len(message.data)), max_size=5))
        fragments = _split(message.data, cuts)
        for i, fragment in enumerate(fragments):
            last = i == len(fragments) - 1
            stream += client_frame(opcode if i == 0 else CONTINUATION, fragment, fin=last)
            if data.draw(st.booleans()):
                stream += client_frame(PING, b"between")
    chunk_cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    parser = FrameParser()
    events: list[Event] = []
    for chunk in _split(stream, chunk_cuts):
        events += parser.feed(chunk)
    assert [e for e in events if not isinstance(e, Ping)] == messages


#: First bytes worth trying: each opcode with and without FIN, and some RSV bits.
FIRST_BYTES = [0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A, 0x09, 0x83, 0x8B, 0xC1, 0xA2]
#: The length to announce: -2 the true one, -1 the true one but unmasked, or a lie.
LENGTHS = [-2, -2, -2, -2, -1, 0, 1, 125, 126, 200, 70_000, 1 << 63]


def _frame_like(first: int, payload: bytes, length: int) -> bytes:
    """A frame with its header fields drawn, so that parsing gets past the first byte."""
    return client_frame(
        first & 0x0F,
        payload,
        fin=bool(first & 0x80),
        rsv=(first >> 4) & 7,
        masked=length != -1,
        length=None if length < 0 else length,
    )


FRAME_LIKE = st.builds(
    _frame_like, st.sampled_from(FIRST_BYTES), st.binary(max_size=40), st.sampled_from(LENGTHS)
)


@settings(max_examples=10_000, deadline=None)
@given(
    pieces=st.lists(st.one_of(st.binary(max_size=30), FRAME_LIKE), max_size=5),
    cuts=st.lists(st.integers(0, 500), max_size=6),
)
def test_random_bytes_raise_nothing_but_websocket_errors(
    pieces: list[bytes], cuts: list[int]
) -> None:
    parser = FrameParser(max_message=150)
    try:
        for chunk in _split(b"".join(pieces), cuts):
            for event in parser.feed(chunk):
                assert isinstance(event, TextMessage | BinaryMessage | Ping | Pong | CloseReceived)
    except WebSocketError as error:
        assert error.close_code in (1002, 1007, 1009)
