"""Codecs over real sockets: negotiation on both WebSocket paths, JSON and MessagePack
clients side by side, bad frames, and a codec an application adds."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest

from homer.client import HomerClient
from homer.config import HomerConfig
from homer.core.app import Homer
from homer.identity.passwords import Argon2Params
from homer.protocol.codecs import DecodeError
from homer.protocol.envelope import Envelope
from homer.testing.server import TestServer, running_homer
from homer.transports.aiohttp_ws import AiohttpPeer
from homer.transports.websocket_peer import WebSocketPeer
from tests.server.rawws import OPEN, RawWebSocket, client_frame

TEXT, BINARY = 0x1, 0x2


@dataclass
class Wire:
    """How a raw test client writes and reads one codec."""

    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    opcode: int


JSON = Wire(msgspec.json.encode, msgspec.json.decode, TEXT)
MSGPACK = Wire(msgspec.msgpack.encode, msgspec.msgpack.decode, BINARY)


class Speaker:
    """A raw WebSocket client that speaks one codec, and checks every frame's type.

    Messages that arrive while it waits for something else are kept for
    :meth:`messages`."""

    def __init__(self, ws: RawWebSocket, wire: Wire) -> None:
        self.ws = ws
        self.wire = wire
        self.written: list[Any] = []

    async def send(self, document: Any) -> None:
        await self.ws.send_raw(client_frame(self.wire.encode(document), self.wire.opcode))

    async def send_bytes(self, data: bytes) -> None:
        await self.ws.send_raw(client_frame(data, self.wire.opcode))

    async def next(self) -> Any:
        opcode, payload = await self.ws.message()
        assert opcode == self.wire.opcode, (opcode, payload[:40])
        document = self.wire.decode(payload)
        if document["op"] == "msg" and document.get("kind") == "msg":
            self.written.append(document)
        return document

    async def reply(self, rid: Any) -> Any:
        while True:
            document = await self.next()
            if document.get("rid") == rid:
                return document

    async def error(self) -> Any:
        """The next error frame, skipping events."""
        while True:
            document = await self.next()
            if document["op"] == "error":
                return document

    async def messages(self, count: int) -> list[Any]:
        """The next ``count`` messages people wrote, skipping other events."""
        while len(self.written) < count:
            await self.next()
        found, self.written = self.written[:count], self.written[count:]
        return found


async def speaker(
    server: TestServer, name: str, asked: list[str] | None, wire: Wire, *, http_first: bool = False
) -> Speaker:
    """A raw client for ``name`` that asked for ``asked`` and said hello."""
    client = Speaker(await connect(server, asked, http_first=http_first), wire)
    await client.send({"op": "hello", "rid": 0, "token": await server.token(name)})
    assert (await client.reply(0))["op"] == "reply"
    return client


async def connect(
    server: TestServer, asked: list[str] | None, *, http_first: bool = False
) -> RawWebSocket:
    """A WebSocket that asked for the subprotocols ``asked`` (``None``: no header), on a
    fresh connection (the lean path) or after an HTTP request (the aiohttp path)."""
    host, port = server.running.host, server.running.port
    if http_first:
        lines = [] if asked is None else [f"Sec-WebSocket-Protocol: {', '.join(asked)}"]
        return await upgrade_after_http(host, port, lines)
    return await RawWebSocket.connect(host, port, protocols=asked or ())


async def upgrade_after_http(host: str, port: int, extra: list[str]) -> RawWebSocket:
    """A WebSocket on a connection that first carried an HTTP request (the aiohttp path).

    A refused upgrade raises ``ConnectionError`` with the whole answer."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head, body = await read_response(reader)
    assert head.startswith(b"HTTP/1.1 200"), head
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        _, body = await read_response(reader, head)
        writer.close()
        raise ConnectionError((head + body).decode(errors="replace"))
    subprotocol = None
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "sec-websocket-protocol":
            subprotocol = value.strip()
    ws = RawWebSocket(reader, writer, subprotocol)
    OPEN.append(ws)
    return ws


async def read_response(
    reader: asyncio.StreamReader, head: bytes | None = None
) -> tuple[bytes, bytes]:
    if head is None:
        head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return head, await reader.readexactly(length)


async def written(client: HomerClient, count: int) -> list[Envelope]:
    """The next ``count`` messages people wrote, skipping joins and other events."""
    found: list[Envelope] = []
    while len(found) < count:
        event = await client.next_event("msg")
        if event.kind == "msg":
            found.append(event)
    return found


def peer_types(server: TestServer) -> set[type]:
    return {type(peer) for peer in server.app.peers}


# -- JSON and MessagePack side by side ------------------------------------------------


async def test_msgpack_and_json_clients_in_one_room_get_every_message_alike(
    tmp_path: Path,
) -> None:
    data = {"n": [1, 2.5, None, True, -7], "s": "héllo 👋", "deep": {"k": {"v": "w"}}}
    async with running_homer(tmp_path) as server, asyncio.timeout(20):
        alice = await server.client("alice", codec="msgpack")
        bob = await server.client("bob")
        await alice.create("lobby")
        await bob.join("lobby")
        carol = await speaker(server, "carol", ["homer.msgpack"], MSGPACK)
        await carol.send({"op": "join", "rid": 1, "room": "lobby"})
        assert (await carol.reply(1))["op"] == "reply"
        dave = await speaker(server, "dave", None, JSON)  # no header: JSON, as before
        await dave.send({"op": "join", "rid": 1, "room": "lobby"})
        assert (await dave.reply(1))["op"] == "reply"
        for i in range(3):
            await alice.send("lobby", f"from msgpack {i}", data)
            await bob.send("lobby", f"from json {i}", data)

        seen_by_alice, seen_by_bob = await written(alice, 6), await written(bob, 6)
        assert seen_by_alice == seen_by_bob
        assert [e.seq for e in seen_by_bob] == sorted(e.seq for e in seen_by_bob)
        assert {e.body["data"] == data for e in seen_by_bob} == {True}
        as_documents = [msgspec.to_builtins(e) for e in seen_by_bob]
        assert await carol.messages(6) == as_documents  # binary frames, checked by Speaker
        assert await dave.messages(6) == as_documents  # text frames
        assert await alice.history("lobby") == await bob.history("lobby")


async def test_the_sdk_speaks_the_codec_it_asked_for(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        packed = await server.client("alice", codec="msgpack")
        plain = await server.client("bob")
        assert packed._ws is not None
        assert plain._ws is not None
        assert packed._ws.protocol == "homer.msgpack"
        assert plain._ws.protocol == "homer.json"
        formats = {peer.fmt.codec.name for peer in server.app.peers}  # type: ignore[attr-defined]
        assert formats == {"json", "msgpack"}
        with pytest.raises(ValueError, match="unknown codec 'cbor'"):
            HomerClient(server.url, token="t", codec="cbor")  # type: ignore[arg-type]


# -- negotiation ----------------------------------------------------------------------


@pytest.mark.parametrize("http_first", [False, True], ids=["lean", "after-http"])
@pytest.mark.parametrize(
    ("asked", "chosen"),
    [
        (["homer.cbor", "homer.msgpack", "homer.json"], "homer.msgpack"),
        (["homer.json", "homer.msgpack"], "homer.json"),
        (["chat", "msgpack", "homer.msgpack"], "homer.msgpack"),
        (None, None),
    ],
)
async def test_the_server_picks_the_first_subprotocol_it_knows(
    tmp_path: Path, asked: list[str] | None, chosen: str | None, http_first: bool
) -> None:
    async with running_homer(tmp_path) as server:
        ws = await connect(server, asked, http_first=http_first)
        assert ws.subprotocol == chosen
        client = Speaker(ws, MSGPACK if chosen == "homer.msgpack" else JSON)
        await client.send({"op": "hello", "rid": 1, "token": await server.token("alice")})
        assert (await client.reply(1))["body"]["user"]["name"] == "alice"
        assert peer_types(server) == {AiohttpPeer if http_first else WebSocketPeer}


@pytest.mark.parametrize("http_first", [False, True], ids=["lean", "after-http"])
async def test_several_header_lines_count_as_one_list(tmp_path: Path, http_first: bool) -> None:
    lines = ["Sec-WebSocket-Protocol: homer.cbor", "Sec-WebSocket-Protocol: homer.msgpack"]
    async with running_homer(tmp_path) as server:
        host, port = server.running.host, server.running.port
        if http_first:
            ws = await upgrade_after_http(host, port, lines)
        else:
            headers = {"Sec-WebSocket-Protocol": "homer.cbor"}
            headers["sec-websocket-protocol"] = "homer.msgpack"  # a second line
            ws = await RawWebSocket.connect(host, port, headers=headers)
        assert ws.subprotocol == "homer.msgpack"
        client = Speaker(ws, MSGPACK)
        await client.send({"op": "hello", "rid": 1, "token": await server.token("alice")})
        assert (await client.reply(1))["op"] == "reply"


@pytest.mark.parametrize("http_first", [False, True], ids=["lean", "after-http"])
@pytest.mark.parametrize("asked", [["homer.cbor", "chat"], ["json"], ["homer."], [""]])
async def test_only_unknown_subprotocols_get_a_400_naming_the_supported_ones(
    tmp_path: Path, asked: list[str], http_first: bool
) -> None:
    async with running_homer(tmp_path) as server:
        with pytest.raises(ConnectionError) as refused:
            await connect(server, asked, http_first=http_first)
        answer = str(refused.value)
        assert answer.startswith("HTTP/1.1 400"), answer
        assert "this server speaks homer.json, homer.msgpack" in answer
        assert server.app.peers == set()


async def test_a_codec_added_at_run_time_is_offered_to_new_connections(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        host, port = server.running.host, server.running.port
        with pytest.raises(ConnectionError, match="400"):
            await RawWebSocket.connect(host, port, protocols=["homer.zlib-json"])
        server.app.add_codec(ZlibJSON())
        ws = await RawWebSocket.connect(host, port, protocols=["homer.zlib-json"])
        assert ws.subprotocol == "homer.zlib-json"
        with pytest.raises(ConnectionError, match="homer.json, homer.msgpack, homer.zlib-json"):
            await RawWebSocket.connect(host, port, protocols=["homer.cbor"])


# -- bad frames -----------------------------------------------------------------------


@pytest.mark.parametrize("http_first", [False, True], ids=["lean", "after-http"])
async def test_bad_msgpack_frames_get_invalid_and_store_nothing(
    tmp_path: Path, http_first: bool
) -> None:
    async with running_homer(tmp_path) as server, asyncio.timeout(20):
        client = await speaker(server, "alice", ["homer.msgpack"], MSGPACK, http_first=http_first)
        await client.send({"op": "create", "rid": 1, "room": "lobby"})
        assert (await client.reply(1))["op"] == "reply"
        send = {"op": "send", "room": "lobby", "cid": "c", "text": "x"}
        cases: list[tuple[bytes, str]] = [
            (b"\xc1", "malformed MessagePack"),
            (msgspec.msgpack.encode(send)[:-3], "malformed MessagePack"),  # truncated
            (msgspec.msgpack.encode(send) + b"\x00", "malformed MessagePack"),
            (msgspec.json.encode({**send, "rid": 2}), "malformed MessagePack"),  # JSON
            (b"\x91" * 20_000 + b"\xc0", "nested too deeply"),
            (b"\x81\xa1\x80\x01", "not UTF-8"),
            (msgspec.msgpack.encode({**send, "data": b"\x00"}), "binary data"),
            (msgspec.msgpack.encode({**send, "data": {1: 2}}), "map keys must be strings"),
            (msgspec.msgpack.encode({**send, "data": msgspec.msgpack.Ext(1, b"")}), "extension"),
            (msgspec.msgpack.encode([send]), "a request is an object with an 'op'"),
            (msgspec.msgpack.encode(42), "a request is an object with an 'op'"),
            (msgspec.msgpack.encode("send"), "a request is an object with an 'op'"),
            (msgspec.msgpack.encode({"rid": 5}), "a request needs an 'op' string"),
        ]
        for data, says in cases:
            await client.send_bytes(data)
            error = await client.error()
            assert error["body"]["code"] == "invalid", (data[:30], error)
            assert says in error["body"]["message"], (data[:30], error)
        # A request whose rid can be read gets its error with that rid, so its client
        # stops waiting for it, whichever field is wrong.
        answered: list[tuple[Any, str]] = [
            ({**send, "rid": 3, "data": b"\x00"}, "binary data"),
            ({**send, "rid": "r4", "text": b"hi"}, "binary data"),
            ({**send, "rid": 5, "data": {1: 2}}, "map keys must be strings"),
            ({"op": b"send", "rid": 6}, "binary data"),
            ({**send, "rid": 7, "data": float("nan")}, "finite"),
        ]
        for document, says in answered:
            await client.send_bytes(msgspec.msgpack.encode(document))
            error = await client.error()
            assert error["rid"] == document["rid"], error
            assert says in error["body"]["message"], error
        # A rid that is itself not allowed cannot be answered to.
        await client.send_bytes(msgspec.msgpack.encode({**send, "rid": b"8"}))
        assert "rid" not in await client.error()
        # Still working, and nothing was stored.
        await client.send({"op": "history", "rid": 10, "room": "lobby"})
        assert (await client.reply(10))["body"]["messages"] == []
        await client.send({**send, "rid": 11, "cid": "ok", "text": "fine"})
        assert (await client.reply(11))["body"]["seq"] == 1


# -- a codec of the application's own ---------------------------------------------------


class ZlibJSON:
    """JSON compressed with zlib, in binary frames: a codec an application might add.

    It remembers the (room, seq) of every message it encodes, to show that a
    fanned-out message is encoded once for all the connections that speak it."""

    name: ClassVar[str] = "zlib-json"
    text: ClassVar[bool] = False

    def __init__(self) -> None:
        self.messages_encoded: list[tuple[str | None, int | None]] = []

    def encode(self, envelope: Envelope) -> bytes:
        if envelope.op == "msg":
            self.messages_encoded.append((envelope.room, envelope.seq))
        return zlib.compress(msgspec.json.encode(envelope))

    def decode(self, data: bytes) -> Any:
        try:
            return msgspec.json.decode(zlib.decompress(data))
        except (zlib.error, msgspec.DecodeError, ValueError) as exc:
            raise DecodeError(f"not zlib-compressed JSON: {exc}") from None


ZLIB_JSON = Wire(
    lambda document: zlib.compress(msgspec.json.encode(document)),
    lambda data: msgspec.json.decode(zlib.decompress(data)),
    BINARY,
)


async def test_an_application_codec_works_end_to_end(tmp_path: Path) -> None:
    codec = ZlibJSON()
    app = Homer(HomerConfig(data_dir=str(tmp_path / "data")), password_params=Argon2Params.cheap())
    app.add_codec(codec)
    async with running_homer(tmp_path, app=app) as server, asyncio.timeout(20):
        owner = await speaker(server, "alice", ["homer.zlib-json"], ZLIB_JSON)
        await owner.send({"op": "create", "rid": 1, "room": "den"})
        assert (await owner.reply(1))["op"] == "reply"
        others = [
            await speaker(server, name, ["homer.cbor", "homer.zlib-json"], ZLIB_JSON)
            for name in ("bob", "carol")
        ]
        json_client = await server.client("dave")
        msgpack_client = await server.client("erin", codec="msgpack")
        for client in others:
            await client.send({"op": "join", "rid": 2, "room": "den"})
            assert (await client.reply(2))["op"] == "reply"
        await json_client.join("den")
        await msgpack_client.join("den")
        await owner.send_bytes(b"not zlib at all")
        assert "not zlib-compressed JSON" in (await owner.error())["body"]["message"]
        for i in range(3):
            request = {
                "op": "send",
                "rid": 10 + i,
                "room": "den",
                "cid": f"c{i}",
                "text": f"hi {i}",
            }
            await owner.send(request)
            assert (await owner.reply(10 + i))["body"]["seq"] > 0
        expected = [msgspec.to_builtins(e) for e in await written(json_client, 3)]
        assert [m["body"]["text"] for m in expected] == ["hi 0", "hi 1", "hi 2"]
        assert [msgspec.to_builtins(e) for e in await written(msgpack_client, 3)] == expected
        for client in [owner, *others]:
            assert await client.messages(3) == expected
        # Three connections speak it, yet each message was encoded for them once.
        encoded = codec.messages_encoded
        assert len(encoded) == len(set(encoded))
        assert {("den", m["seq"]) for m in expected} <= set(encoded)


class Fragile(ZlibJSON):
    """A codec with bugs: it cannot encode messages that mention 'boom', and it fails
    (not with DecodeError) on a frame that says 'crash'."""

    name: ClassVar[str] = "fragile"

    def encode(self, envelope: Envelope) -> bytes:
        if envelope.op == "msg" and "boom" in str(envelope.body):
            raise RuntimeError("cannot encode that")
        return super().encode(envelope)

    def decode(self, data: bytes) -> Any:
        if data == b"crash":
            raise RuntimeError("codec bug")
        return super().decode(data)


async def test_a_failing_codec_costs_only_its_own_connections(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, asyncio.timeout(20):
        server.app.add_codec(Fragile())
        fragile = await speaker(server, "alice", ["homer.fragile"], ZLIB_JSON)
        await fragile.send({"op": "create", "rid": 1, "room": "den"})
        assert (await fragile.reply(1))["op"] == "reply"
        await fragile.send_bytes(b"crash")
        error = await fragile.error()
        assert error["body"] == {"code": "internal", "message": "internal error"}
        await fragile.send({"op": "ping", "rid": 2})  # still working
        assert (await fragile.reply(2))["op"] == "reply"
        json_client = await server.client("bob")
        msgpack_client = await server.client("carol", codec="msgpack")
        await json_client.join("den")
        await msgpack_client.join("den")
        await json_client.send("den", "boom")
        assert (await written(msgpack_client, 1))[0].body["text"] == "boom"
        assert (await written(json_client, 1))[0].body["text"] == "boom"
        assert await fragile.ws.close_code() == 1011


async def test_integers_past_64_bits_reach_msgpack_clients_as_floats(tmp_path: Path) -> None:
    data = {"n": 2**70, "small": 2**63}
    async with running_homer(tmp_path) as server, asyncio.timeout(20):
        json_client = await server.client("alice")
        msgpack_client = await server.client("bob", codec="msgpack")
        await json_client.create("lobby")
        await msgpack_client.join("lobby")
        await json_client.send("lobby", "big", data)
        assert (await written(json_client, 1))[0].body["data"] == data
        assert (await written(msgpack_client, 1))[0].body["data"] == {
            "n": float(2**70),
            "small": 2**63,
        }
        [stored] = [m for m in await msgpack_client.history("lobby") if m.kind == "msg"]
        assert stored.body["data"]["n"] == float(2**70)
