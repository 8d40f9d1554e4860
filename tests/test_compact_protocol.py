"""The compact protocol of examples/compact_protocol.py: its framing and codec on their
own, and a real server speaking them on raw TCP beside a client in JSON lines."""

from __future__ import annotations

import asyncio
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homer.config import HomerConfig
from homer.identity.passwords import Argon2Params
from homer.protocol.codecs import DecodeError
from homer.protocol.envelope import Envelope
from homer.protocol.framing import FrameTooLarge, FramingRegistry, LineFraming
from homer.testing.server import TestServer, replace_config, running_homer
from tests.test_examples import load

compact = load("compact_protocol")
MAX_FRAME = 4096


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({point % (len(data) + 1) for point in points})
    return [data[a:b] for a, b in zip([0, *marks], [*marks, len(data)], strict=True)]


# -- the framing, sans-I/O ------------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(
    payloads=st.lists(st.binary(max_size=300), max_size=8),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
def test_varint_frames_come_back_however_the_stream_is_cut(
    payloads: list[bytes], cuts: list[int]
) -> None:
    wire = b"".join(compact.VarintFraming.frame(payload) for payload in payloads)
    framing = compact.VarintFraming(300)
    got = []
    for piece in cut(wire, cuts):
        got += framing.feed(piece)
        assert len(framing._pending) < 300 + 2  # a 2-byte prefix and part of a frame
    assert got == payloads


def test_an_oversized_varint_frame_is_refused_from_its_prefix_alone() -> None:
    assert compact.encode_varint(1000) == b"\xe8\x07"
    assert compact.VarintFraming(1000).feed(b"\xe8\x07") == []  # 1000 bytes will do
    with pytest.raises(FrameTooLarge):
        compact.VarintFraming(1000).feed(compact.encode_varint(1001))  # no body sent
    # Before the prefix ends: its first two bytes already say 16383 or more.
    framing = compact.VarintFraming(1000)
    assert framing.feed(b"\xff") == []
    with pytest.raises(FrameTooLarge):
        framing.feed(b"\xff")
    assert framing._pending == b""
    # A wasteful encoding of 5 fits in two bytes, not in three.
    assert compact.VarintFraming(1000).feed(b"\x85\x00hello") == [b"hello"]
    with pytest.raises(FrameTooLarge):
        compact.VarintFraming(1000).feed(b"\x85\x80\x00")


@settings(max_examples=1_000, deadline=None, database=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=8), limit=st.integers(0, 200))
def test_random_bytes_give_varint_frames_or_frame_too_large(
    chunks: list[bytes], limit: int
) -> None:
    framing = compact.VarintFraming(limit)
    for chunk in chunks:
        try:
            frames = framing.feed(chunk)
        except FrameTooLarge:
            break
        assert all(len(frame) <= limit for frame in frames)
        assert len(framing._pending) < limit + 2 + len(chunk)


# -- the codec ------------------------------------------------------------------------------


def test_the_codec_packs_the_common_frames_and_falls_back_to_msgpack() -> None:
    codec = compact.CompactCodec()
    message = Envelope(
        op="msg",
        room="lobby",
        seq=7,
        id="m1",
        cid="c1",
        sender="ann",
        uid="u1",
        ts=1795780776.5,
        kind="msg",
        body={"text": "héllo"},
    )
    reply = Envelope(op="reply", rid=3, body={"seq": 7, "duplicate": False})
    for envelope, tag in [
        (message, compact.MSG),
        (reply, compact.REPLY),
        (Envelope(op="reply", rid="r3", body=None), compact.MSGPACK),  # a text rid
        (
            Envelope(op="msg", room="lobby", seq=8, kind="join", body={"user": "bob"}),
            compact.MSGPACK,
        ),
        (Envelope(op="reply", rid=1, body={"n": 2**70}), compact.MSGPACK),  # past 64 bits
    ]:
        data = codec.encode(envelope)
        assert data[0] == tag, envelope
        if envelope.body != {"n": 2**70}:
            assert compact.decode_event(data) == msgspec.to_builtins(envelope)
    assert len(codec.encode(message)) < len(msgspec.msgpack.encode(message)) * 2 // 3

    send = {"op": "send", "rid": 4, "room": "lobby", "cid": "c2", "text": "hi"}
    assert compact.encode_request(send)[0] == compact.SEND
    assert codec.decode(compact.encode_request(send)) == send
    hello = {"op": "hello", "rid": 1, "token": "t"}
    assert compact.encode_request(hello)[0] == compact.MSGPACK
    assert codec.decode(compact.encode_request(hello)) == hello


@settings(max_examples=1_000, deadline=None, database=None)
@given(
    tag=st.integers(0, 255),
    data=st.binary(max_size=100),
    send=st.builds(
        lambda rid, room, cid, text: {
            "op": "send",
            "rid": rid,
            "room": room,
            "cid": cid,
            "text": text,
        },
        st.integers(0, 2**64),
        st.text(max_size=10),
        st.text(max_size=10),
        st.text(max_size=30),
    ),
    cut_at=st.integers(0, 100),
    flip=st.tuples(st.integers(0, 100), st.integers(1, 255)),
)
def test_the_codec_decodes_requests_or_raises_decode_error(
    tag: int, data: bytes, send: dict[str, Any], cut_at: int, flip: tuple[int, int]
) -> None:
    codec = compact.CompactCodec()
    wire = compact.encode_request(send)
    assert codec.decode(wire) == send
    spoilt = bytearray(wire)
    spoilt[flip[0] % len(spoilt)] ^= flip[1]
    for candidate in (bytes((tag,)) + data, wire[:cut_at], bytes(spoilt)):
        try:
            document = codec.decode(candidate)
        except DecodeError:
            continue
        assert msgspec.json.decode(msgspec.json.encode(document)) == document


def test_add_framing_checks_what_it_is_given() -> None:
    registry = FramingRegistry([LineFraming])
    registry.add(compact.VarintFraming)
    assert registry.names == ["lines", "varint"]
    assert registry.get("varint") is compact.VarintFraming
    assert "varint" in registry

    class Named:
        name: ClassVar[object] = "Varint"
        binary: ClassVar[object] = True

        def feed(self, data: bytes) -> list[bytes]:
            return []

        @staticmethod
        def frame(payload: bytes) -> bytes:
            return payload

    for name in ("Varint", "", "v" * 33, "var-int", 7):
        Named.name = name
        with pytest.raises(ValueError, match="a framing's name"):
            registry.add(Named)  # type: ignore[arg-type]
    Named.name, Named.binary = "named", "yes"
    with pytest.raises(TypeError, match="'binary'"):
        registry.add(Named)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="the class, not an instance"):
        registry.add(compact.VarintFraming(10))
    assert registry.names == ["lines", "varint"]


# -- end to end, over real sockets ----------------------------------------------------------


def matches(event: dict[str, Any], op: str, rid: Any, fields: dict[str, Any]) -> bool:
    return (
        event["op"] == op
        and (rid is None or event.get("rid") == rid)
        and all(event.get(name) == value for name, value in fields.items())
    )


class CompactClient:
    """A raw TCP client speaking ``homer/1 compact varint``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framing = compact.VarintFraming(1 << 20)
        self.frames: deque[bytes] = deque()
        self.unread: list[tuple[int, dict[str, Any]]] = []

    @classmethod
    async def connect(cls, server: TestServer) -> CompactClient:
        assert server.tcp_port is not None
        return cls(*await asyncio.open_connection("127.0.0.1", server.tcp_port))

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(self, **fields: Any) -> None:
        await self.write(compact.VarintFraming.frame(compact.encode_request(fields)))

    async def next_frame(self) -> bytes:
        while not self.frames:
            data = await self.reader.read(65536)
            assert data, "connection closed"
            self.frames.extend(self.framing.feed(data))
        return self.frames.popleft()

    async def next(self, op: str, rid: Any = None, **fields: Any) -> tuple[int, dict[str, Any]]:
        """The first event with this op, rid and fields not taken yet, and the tag it
        came with (a reply and a message may come in either order)."""
        async with asyncio.timeout(5):
            for i, (tag, event) in enumerate(self.unread):
                if matches(event, op, rid, fields):
                    del self.unread[i]
                    return tag, event
            while True:
                frame = await self.next_frame()
                event = compact.decode_event(frame)
                if matches(event, op, rid, fields):
                    return frame[0], event
                self.unread.append((frame[0], event))

    async def closed(self) -> bool:
        async with asyncio.timeout(5):
            while await self.reader.read(65536):
                pass
        return True

    def close(self) -> None:
        self.writer.close()


class LineClient:
    """JSON lines, as nc speaks them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.unread: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, server: TestServer) -> LineClient:
        assert server.tcp_port is not None
        return cls(*await asyncio.open_connection("127.0.0.1", server.tcp_port))

    async def line(self, raw: bytes) -> None:
        self.writer.write(raw + b"\n")
        await self.writer.drain()

    async def request(self, **fields: Any) -> None:
        await self.line(msgspec.json.encode(fields))

    async def next(self, op: str, rid: Any = None, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(5):
            for i, event in enumerate(self.unread):
                if matches(event, op, rid, fields):
                    return self.unread.pop(i)
            while True:
                line = await self.reader.readline()
                assert line, "connection closed"
                event = msgspec.json.decode(line)
                if matches(event, op, rid, fields):
                    return event
                self.unread.append(event)

    def close(self) -> None:
        self.writer.close()


def build_app(tmp_path: Path) -> Any:
    config = replace_config(
        HomerConfig(data_dir=str(tmp_path / "data")),
        server={"tcp_port": 0},
        limits={"max_frame": MAX_FRAME},
    )
    return compact.build_app(config, password_params=Argon2Params.cheap())


@pytest.mark.timeout(30)
async def test_chat_in_compact_varint_beside_json_lines(tmp_path: Path) -> None:
    async with running_homer(tmp_path, app=build_app(tmp_path)) as server, asyncio.timeout(20):
        ann = await CompactClient.connect(server)
        bob = await LineClient.connect(server)
        try:
            # The greeting and the first frame in one write: the framing switches mid-buffer.
            hello = {"op": "hello", "rid": 1, "token": await server.token("ann")}
            await ann.write(
                b"homer/1 compact varint\n"
                + compact.VarintFraming.frame(compact.encode_request(hello))
            )
            _, greeted = await ann.next("hello")
            assert greeted["body"] == {"codec": "compact", "framing": "varint"}
            tag, welcome = await ann.next("reply", 1)
            assert tag == compact.REPLY
            assert welcome["body"]["user"]["name"] == "ann"
            await ann.request(op="create", rid=2, room="lobby")
            await ann.next("reply", 2)

            await bob.request(op="hello", rid=1, token=await server.token("bob"))
            await bob.next("reply", 1)
            await bob.request(op="join", rid=2, room="lobby")
            await bob.next("reply", 2)

            # ann sends in a packed frame; her ack and the message come back packed.
            send = {"op": "send", "rid": 3, "room": "lobby", "cid": "c1", "text": "hi, compactly"}
            assert compact.encode_request(send)[0] == compact.SEND
            await ann.request(**send)
            tag, ack = await ann.next("reply", 3)
            assert tag == compact.REPLY
            tag, mine = await ann.next("msg", kind="msg", cid="c1")
            assert tag == compact.MSG
            assert mine["body"] == {"text": "hi, compactly"}
            assert (mine["seq"], mine["id"]) == (ack["body"]["seq"], ack["body"]["id"])

            # One chat model: bob, in JSON lines, gets the same message.
            theirs = await bob.next("msg", kind="msg", cid="c1")
            assert theirs["body"] == {"text": "hi, compactly"}
            assert (theirs["seq"], theirs["id"], theirs["sender"]) == (
                mine["seq"],
                mine["id"],
                "ann",
            )
            assert theirs["ts"] == mine["ts"]

            # And the other way.
            await bob.request(op="send", rid=3, room="lobby", cid="c2", text="hi back")
            await bob.next("reply", 3)
            tag, back = await ann.next("msg", kind="msg", cid="c2")
            assert tag == compact.MSG
            assert (back["sender"], back["body"]) == ("bob", {"text": "hi back"})
        finally:
            ann.close()
            bob.close()


@pytest.mark.timeout(30)
async def test_an_oversized_varint_frame_gets_an_error_and_a_close(tmp_path: Path) -> None:
    async with running_homer(tmp_path, app=build_app(tmp_path)) as server, asyncio.timeout(20):
        cy = await CompactClient.connect(server)
        try:
            await cy.write(b"homer/1 compact varint\n")
            await cy.next("hello")
            # Only the prefix: the server refuses without waiting for the body.
            await cy.write(compact.encode_varint(MAX_FRAME + 1))
            _, error = await cy.next("error")
            assert error["body"]["code"] == "too_large"
            _, closing = await cy.next("close")
            assert closing["body"]["code"] == 1009
            assert await cy.closed()
        finally:
            cy.close()


@pytest.mark.timeout(30)
async def test_a_binary_codec_in_lines_is_told_which_framings_carry_it(tmp_path: Path) -> None:
    async with running_homer(tmp_path, app=build_app(tmp_path)) as server, asyncio.timeout(20):
        dee = await LineClient.connect(server)
        try:
            await dee.line(b"homer/1 compact lines")
            error = await dee.next("error")
            assert error["body"]["code"] == "invalid"
            assert "('length', 'varint')" in error["body"]["message"]
            assert (await dee.next("close"))["body"]["code"] == 1002
        finally:
            dee.close()
