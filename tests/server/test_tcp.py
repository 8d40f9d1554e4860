"""Raw TCP: JSON lines as a person types them into nc, length-prefixed MessagePack
for programs, and what each does with bad input."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest_asyncio

from homer.clock import ManualClock
from homer.testing.server import TestServer, replace_config, running_homer


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    def configure(config: Any) -> Any:
        return replace_config(
            config, server={"tcp_port": 0}, limits={"max_frame": 4096, "rate": 1000.0}
        )

    async with running_homer(tmp_path, configure=configure) as running:
        yield running
        while OPEN:
            OPEN.pop().close()


#: Every client writer a test opened, closed when the test ends.
OPEN: list[asyncio.StreamWriter] = []


async def open_tcp(server: TestServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert server.tcp_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.tcp_port)
    OPEN.append(writer)
    return reader, writer


class LineClient:
    """What nc does: lines of JSON out, lines of JSON in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, server: TestServer) -> LineClient:
        return cls(*await open_tcp(server))

    async def line(self, raw: bytes) -> None:
        self.writer.write(raw + b"\n")
        await self.writer.drain()

    async def request(self, **fields: Any) -> None:
        await self.line(msgspec.json.encode(fields))

    async def next(self, op: str | None = None, rid: Any = None) -> dict[str, Any]:
        async with asyncio.timeout(5):
            while True:
                line = await self.reader.readline()
                assert line, "connection closed"
                event: dict[str, Any] = msgspec.json.decode(line)
                if (op is None or event["op"] == op) and (rid is None or event.get("rid") == rid):
                    return event

    async def closed(self) -> bool:
        async with asyncio.timeout(5):
            while await self.reader.read(65536):
                pass
        return True


async def test_chat_over_json_lines_with_a_websocket_user(server: TestServer) -> None:
    ann = await LineClient.connect(server)
    await ann.request(op="hello", rid=1, token=await server.token("ann"))
    welcome = await ann.next("reply", 1)
    assert welcome["body"]["user"]["name"] == "ann"
    await ann.request(op="create", rid=2, room="lobby")
    await ann.next("reply", 2)
    bob = await server.client("bob")
    await bob.join("lobby")
    await ann.request(op="send", rid=3, room="lobby", cid="c1", text="hi from nc")
    ack = await ann.next("reply", 3)
    event = await bob.next_event("msg")
    while event.kind != "msg":  # bob's own join comes first
        event = await bob.next_event("msg")
    assert (event.body["text"], event.seq) == ("hi from nc", ack["body"]["seq"])
    await bob.send("lobby", "hi back")
    got = await ann.next("msg")
    while got.get("kind") != "msg" or got["sender"] != "bob":
        got = await ann.next("msg")
    assert got["body"]["text"] == "hi back"


async def test_msgpack_in_length_prefixed_frames(server: TestServer) -> None:
    reader, writer = await open_tcp(server)

    def frame(document: Any) -> bytes:
        payload = msgspec.msgpack.encode(document)
        return struct.pack(">I", len(payload)) + payload

    async def next_frame() -> Any:
        async with asyncio.timeout(5):
            (size,) = struct.unpack(">I", await reader.readexactly(4))
            return msgspec.msgpack.decode(await reader.readexactly(size))

    # The greeting and the first request in one write: the framing switches mid-buffer.
    writer.write(
        b"homer/1 msgpack length\r\n"
        + frame({"op": "hello", "rid": 1, "token": await server.token("cy")})
    )
    assert await next_frame() == {"op": "hello", "body": {"codec": "msgpack", "framing": "length"}}
    assert (await next_frame())["rid"] == 1
    writer.write(frame({"op": "ping", "rid": 2})[:3])  # a frame in pieces
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(frame({"op": "ping", "rid": 2})[3:])
    assert (await next_frame())["rid"] == 2
    writer.close()


async def test_bad_lines_get_errors_and_the_connection_keeps_working(server: TestServer) -> None:
    ann = await LineClient.connect(server)
    await ann.request(op="hello", rid=1, token=await server.token("ann"))
    await ann.next("reply", 1)
    await ann.line(b"this is not json")
    assert (await ann.next("error"))["body"]["code"] == "invalid"
    await ann.line(b"[1, 2, 3]")
    assert (await ann.next("error"))["body"]["code"] == "invalid"
    await ann.request(op="no-such-op", rid=7)
    assert (await ann.next("error", 7))["body"]["code"] == "unknown_op"
    await ann.line(b"")  # blank lines are skipped
    await ann.request(op="ping", rid=8)
    assert (await ann.next("reply", 8))["rid"] == 8


async def test_an_oversized_line_is_refused_without_waiting_for_its_end(
    server: TestServer,
) -> None:
    ann = await LineClient.connect(server)
    await ann.request(op="hello", rid=1, token=await server.token("ann"))
    await ann.next("reply", 1)
    ann.writer.write(b'{"op": "send", "text": "' + b"x" * 10_000)  # no newline, ever
    await ann.writer.drain()
    error = await ann.next("error")
    assert error["body"]["code"] == "too_large"
    assert (await ann.next("close"))["body"]["code"] == 1009
    assert await ann.closed()


async def test_an_oversized_length_prefix_is_refused_before_its_body(server: TestServer) -> None:
    reader, writer = await open_tcp(server)
    writer.write(b"homer/1 json length\n" + struct.pack(">I", 50_000_000))
    async with asyncio.timeout(5):
        data = await reader.read()  # everything until the server closes
    assert b'"too_large"' in data
    writer.close()


async def test_a_greeting_the_server_cannot_honour_is_refused(server: TestServer) -> None:
    for greeting, reason in (
        (b"homer/1 cbor length", b"unknown codec 'cbor'"),
        (b"homer/1 msgpack lines", b"is binary"),
        (b"homer/2", b"homer/1 <codec> <framing>"),
        (b"homer/1 json frames", b"unknown framing"),
    ):
        reader, writer = await open_tcp(server)
        writer.write(greeting + b"\n")
        async with asyncio.timeout(5):
            data = await reader.read()
        assert reason in data, (greeting, data)
        writer.close()


async def test_a_tcp_client_that_never_says_hello_is_cut_off(tmp_path: Path) -> None:
    def configure(config: Any) -> Any:
        return replace_config(config, server={"tcp_port": 0}, limits={"handshake_timeout": 0.5})

    async with running_homer(tmp_path, configure=configure) as server:
        silent = await LineClient.connect(server)
        closing = await silent.next("close")
        assert closing["body"]["code"] == 4001
        assert await silent.closed()
        while OPEN:
            OPEN.pop().close()


async def test_a_silent_tcp_client_is_pinged_then_closed_with_a_reason(tmp_path: Path) -> None:
    """The sweep, stepped by hand: a ``ping`` event after a silence, any frame answers
    it, and without an answer a ``close`` event says why before the server closes."""

    def configure(config: Any) -> Any:
        return replace_config(
            config, server={"tcp_port": 0}, limits={"heartbeat": 1.0, "heartbeat_timeout": 1.0}
        )

    clock = ManualClock()
    async with running_homer(
        tmp_path, configure=configure, clock=clock, sweep_period=None
    ) as server:
        ann = await LineClient.connect(server)
        await ann.request(op="hello", rid=1, token=await server.token("ann"))
        await ann.next("reply", 1)
        clock.advance(1.5)
        await server.app.sweep()
        assert await ann.next() == {"op": "ping"}
        await ann.request(op="ping", rid=2)  # an answer: any frame
        await ann.next("reply", 2)
        clock.advance(1.5)
        await server.app.sweep()
        assert await ann.next() == {"op": "ping"}
        clock.advance(1.5)
        await server.app.sweep()
        closing = await ann.next()
        assert closing == {
            "op": "close",
            "body": {"code": 1001, "reason": "no answer to heartbeats"},
        }
        assert await ann.closed()
        while OPEN:
            OPEN.pop().close()
