"""Codecs and their registry, without a network: bytes in, documents or DecodeError out."""

from __future__ import annotations

import contextlib
import datetime
import math
from typing import Any, ClassVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homer.protocol.codecs import (
    Codec,
    CodecRegistry,
    DecodeError,
    JSONCodec,
    MessagePackCodec,
)
from homer.protocol.envelope import Envelope, error_envelope, parse_request

BUILT_IN: list[Codec] = [JSONCodec(), MessagePackCodec()]


@pytest.mark.parametrize("codec", BUILT_IN, ids=lambda codec: codec.name)
def test_an_envelope_has_the_same_fields_in_every_codec(codec: Codec) -> None:
    envelope = Envelope(
        op="msg",
        room="lobby",
        seq=7,
        id="m-1",
        cid="c-1",
        sender="alice",
        uid="u-1",
        ts=1_700_000_000.25,
        kind="msg",
        body={"text": "héllo 👋", "data": {"n": [1, 2.5, None, True], "deep": {"x": "y"}}},
    )
    document = codec.decode(codec.encode(envelope))
    assert document == msgspec.to_builtins(envelope)
    assert "rid" not in document  # unused fields stay off the wire in every codec


def test_msgpack_is_binary_and_json_is_text() -> None:
    assert JSONCodec.text is True
    assert MessagePackCodec.text is False
    assert (JSONCodec.name, MessagePackCodec.name) == ("json", "msgpack")


def test_a_msgpack_request_goes_through_the_same_parse_as_json() -> None:
    raw = {"op": "send", "rid": 3, "room": "lobby", "cid": "c", "text": "hi"}
    from_json = parse_request(JSONCodec().decode(msgspec.json.encode(raw)))
    from_msgpack = parse_request(MessagePackCodec().decode(msgspec.msgpack.encode(raw)))
    assert from_json == from_msgpack


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xc1", "malformed MessagePack"),
        (b"", "malformed MessagePack"),
        (b"\x82\xa2op", "malformed MessagePack"),  # truncated
        (msgspec.msgpack.encode({"op": "ping"}) + b"\x00", "malformed MessagePack"),
        (b"\x91" * 20_000 + b"\xc0", "nested too deeply"),
        (b"\x81\xa1\x80\x01", "not UTF-8"),
        (b"\xa3\xed\xa0\x80", "not UTF-8"),
        (msgspec.msgpack.encode({"op": "send", "data": b"\x00\x01"}), "binary data"),
        (msgspec.msgpack.encode({"op": "x", 1: "one"}), "map keys must be strings"),
        (msgspec.msgpack.encode({"op": "x", "d": {2: 3}}), "map keys must be strings"),
        (msgspec.msgpack.encode([{"op": "x"}, msgspec.msgpack.Ext(5, b"z")]), "extension type 5"),
        (
            msgspec.msgpack.encode({"ts": datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)}),
            "datetime is not allowed",
        ),
        (msgspec.msgpack.encode({"op": "x", "n": math.nan}), "finite"),
        (msgspec.msgpack.encode({"op": "x", "n": [-math.inf]}), "finite"),
    ],
)
def test_msgpack_refuses_what_json_cannot_say_with_a_clear_message(data: bytes, says: str) -> None:
    with pytest.raises(DecodeError, match=says):
        MessagePackCodec().decode(data)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"[" * 20_000, "nested too deeply"),
        (b'{"op": "\x80"}', "not UTF-8"),  # a binary frame skips the text frame's check
        (b"{not json", "malformed JSON"),
    ],
)
def test_json_errors_are_decode_errors_not_crashes(data: bytes, says: str) -> None:
    with pytest.raises(DecodeError, match=says):
        JSONCodec().decode(data)


def test_integers_msgpack_cannot_hold_are_sent_as_the_nearest_float() -> None:
    """JSON clients may store them; a MessagePack member of the room still gets the event."""
    big = {"n": 2**70, "m": -(10**400), "ok": [2**64 - 1, -(2**63)], "flag": True}
    envelope = Envelope(op="msg", room="r", seq=1, body={"data": big})
    document = msgspec.msgpack.decode(MessagePackCodec().encode(envelope))
    assert document["body"]["data"] == {
        "n": float(2**70),
        "m": -math.inf,
        "ok": [2**64 - 1, -(2**63)],
        "flag": True,
    }
    assert document["seq"] == 1
    assert "rid" not in document


@pytest.mark.parametrize("document", [[1, 2], 5, "op", None, True])
def test_a_msgpack_document_that_is_not_a_map_is_a_bad_request(document: Any) -> None:
    decoded = MessagePackCodec().decode(msgspec.msgpack.encode(document))
    assert decoded == document  # a document; parse_request is what refuses it
    with pytest.raises(Exception, match="a request is an object with an 'op'"):
        parse_request(decoded)


# -- arbitrary input ------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_decode_to_a_document_or_a_decode_error(data: bytes) -> None:
    for codec in BUILT_IN:
        with contextlib.suppress(DecodeError):
            codec.decode(data)


#: What a MessagePack peer can put on the wire, JSON-like or not.
_msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.builds(msgspec.msgpack.Ext, st.integers(-128, 127), st.binary(max_size=8)),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.integers(-5, 5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(value=_msgpack_values, cut=st.integers(0, 64), flip=st.integers(0, 255))
def test_msgpack_accepts_only_what_json_can_hold(value: Any, cut: int, flip: int) -> None:
    """Whole documents, truncated ones and ones with a byte changed: a document that
    is accepted says the same in JSON; anything else is a DecodeError."""
    whole = msgspec.msgpack.encode(value)
    spoilt = bytearray(whole)
    spoilt[cut % len(spoilt)] ^= flip
    for data in (whole, whole[:cut], bytes(spoilt)):
        try:
            document = MessagePackCodec().decode(data)
        except DecodeError:
            continue
        assert msgspec.json.decode(msgspec.json.encode(document)) == document


# -- the registry ---------------------------------------------------------------------


class Upper:
    """A codec for these tests: JSON with every byte it sends in capitals."""

    name: ClassVar[str] = "upper"
    text: ClassVar[bool] = True

    def encode(self, envelope: Envelope) -> bytes:
        return msgspec.json.encode(envelope).upper()

    def decode(self, data: bytes) -> Any:
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise DecodeError(str(exc)) from None


class Framing:
    """Stands in for a transport's framing, to see how often the registry builds one."""

    built = 0

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        Framing.built += 1


def test_codecs_are_found_by_name_in_the_order_they_were_added() -> None:
    registry = CodecRegistry(BUILT_IN)
    registry.add(Upper())
    assert registry.names == ["json", "msgpack", "upper"]
    assert "upper" in registry
    assert "cbor" not in registry
    assert registry.get("cbor") is None
    assert [codec.name for codec in registry] == registry.names
    assert len(registry) == 3


def test_a_wire_format_is_built_once_per_codec_and_shared() -> None:
    registry = CodecRegistry(BUILT_IN)
    Framing.built = 0
    first = registry.wire_format("json", Framing)
    assert registry.wire_format("json", Framing) is first
    assert registry.wire_format("msgpack", Framing) is not first
    assert Framing.built == 2
    with pytest.raises(KeyError):
        registry.wire_format("cbor", Framing)


def test_replacing_a_codec_gives_new_connections_a_new_format() -> None:
    registry = CodecRegistry(BUILT_IN)
    before = registry.wire_format("json", Framing)

    class LoudJSON(Upper):
        name: ClassVar[str] = "json"

    replacement = LoudJSON()
    registry.add(replacement)
    after = registry.wire_format("json", Framing)
    assert after is not before
    assert after.codec is replacement
    assert registry.names == ["json", "msgpack"]


@pytest.mark.parametrize("name", ["", "JSON", "with space", "a,b", "-x", "é", "x" * 65])
def test_a_codec_name_must_fit_in_a_subprotocol_name(name: str) -> None:
    named = type("Named", (Upper,), {"name": name})
    with pytest.raises(ValueError, match="a codec's name"):
        CodecRegistry().add(named())


def test_a_codec_without_its_methods_or_text_flag_is_refused() -> None:
    class NoText:
        name = "notext"

    class NoDecode:
        name = "nodecode"
        text = False

        def encode(self, envelope: Envelope) -> bytes:
            return b""

    with pytest.raises(TypeError, match="'text'"):
        CodecRegistry().add(NoText())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="encode"):
        CodecRegistry().add(NoDecode())  # type: ignore[arg-type]


def test_an_error_frame_encodes_in_every_codec() -> None:
    envelope = error_envelope(None, "invalid", "malformed MessagePack: Input data was truncated")
    for codec in BUILT_IN:
        assert codec.decode(codec.encode(envelope))["body"]["code"] == "invalid"
