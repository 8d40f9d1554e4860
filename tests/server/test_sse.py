"""Server-Sent Events at /api/events: live traffic, several rooms, exact resume
from the last event id, slow streams, and one rendering per event."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from homer.clock import ManualClock
from homer.config import HomerConfig
from homer.core.app import Homer
from homer.messaging.hub import Hub
from homer.protocol.envelope import Envelope
from homer.testing.server import TestServer, replace_config, running_homer
from homer.transports.sse_stream import SSEFormat, SSEPeer, decode_cursor


class Stream:
    """A parsed event stream: ``(id, event, data)`` at a time, the id as the
    browser's EventSource keeps it (the last one seen)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.last_id = ""

    async def next(self) -> tuple[str, dict[str, Any]]:
        event, data = "message", b""
        async with asyncio.timeout(10):
            while True:
                line = await self.response.content.readline()
                if not line:
                    raise EOFError("the stream ended")
                line = line.rstrip(b"\n")
                if not line:
                    if data:
                        return event, msgspec.json.decode(data)
                    continue
                if line.startswith(b":"):
                    continue
                field, _, value = line.partition(b":")
                value = value.removeprefix(b" ")
                if field == b"id":
                    self.last_id = value.decode()
                elif field == b"event":
                    event = value.decode()
                elif field == b"data":
                    data = value

    async def next_op(self, op: str) -> dict[str, Any]:
        while True:
            event, data = await self.next()
            if event == op:
                return data


@contextlib.asynccontextmanager
async def stream(
    server: TestServer, token: str, *, query: str = "", last_id: str | None = None
) -> AsyncIterator[Stream]:
    headers = {"Authorization": f"Bearer {token}"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/api/events{query}", headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = Stream(response)
        assert (await events.next())[0] == "ready"
        yield events


async def post(
    server: TestServer, token: str, room: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/rooms/{room}/messages",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status, await response.json()


async def test_a_stream_gets_messages_sent_over_websocket_and_post_in_order(
    tmp_path: Path,
) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        bob = await server.client("bob")
        await bob.join("lobby")
        async with stream(server, await server.token("bob")) as events:
            await alice.send("lobby", "over websocket")
            status, ack = await post(
                server, await server.token("alice"), "lobby", {"cid": "p1", "text": "over http"}
            )
            assert status == 201
            assert ack["duplicate"] is False
            await alice.send("lobby", "websocket again")
            texts = []
            for _ in range(3):
                msg = await events.next_op("msg")
                texts.append((msg["seq"], msg["body"]["text"]))
            assert [text for _, text in texts] == ["over websocket", "over http", "websocket again"]
            seqs = [seq for seq, _ in texts]
            assert seqs == sorted(seqs)
            assert len(set(seqs)) == 3
            assert decode_cursor(events.last_id)["lobby"].seq == seqs[-1]


async def test_one_stream_for_two_rooms_and_a_stream_of_one(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        await alice.create("plans")
        token = await server.token("alice")
        async with (
            stream(server, token) as both,
            stream(server, token, query="?rooms=plans") as plans_only,
        ):
            await alice.send("lobby", "to lobby")
            await alice.send("plans", "to plans")
            first, second = await both.next_op("msg"), await both.next_op("msg")
            assert [(m["room"], m["body"]["text"]) for m in (first, second)] == [
                ("lobby", "to lobby"),
                ("plans", "to plans"),
            ]
            assert set(decode_cursor(both.last_id)) == {"lobby", "plans"}
            only = await plans_only.next_op("msg")
            assert only["room"] == "plans"
            assert set(decode_cursor(plans_only.last_id)) == {"plans"}


async def test_reconnecting_with_the_last_event_id_gets_exactly_what_was_missed(
    tmp_path: Path,
) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        await alice.create("plans")
        token = await server.token("alice")
        async with stream(server, token) as events:
            await alice.send("lobby", "seen 1")
            await alice.send("plans", "seen 2")
            await events.next_op("msg")
            await events.next_op("msg")
            last_id = events.last_id
        missed = [("lobby", "missed 1"), ("plans", "missed 2"), ("lobby", "missed 3")]
        for room, text in missed:
            await alice.send(room, text)
        async with stream(server, token, last_id=last_id) as events:
            answers = {}
            got = []
            while len(answers) < 2 or len(got) < 3:
                event, data = await events.next()
                if event == "resumed":
                    answers[data["room"]] = data["body"]
                elif event == "msg":
                    got.append((data["room"], data["body"]["text"]))
            assert answers["lobby"]["recovered"]
            assert answers["lobby"]["count"] == 2
            assert answers["plans"]["recovered"]
            assert answers["plans"]["count"] == 1
            assert sorted(got) == sorted(missed)
            await alice.send("plans", "live")
            live = await events.next_op("msg")
            assert live["body"]["text"] == "live", "no duplicate, no gap"
            positions = decode_cursor(events.last_id)
            history = {room: (await alice.history(room, limit=1))[-1].seq for room in positions}
            assert {room: p.seq for room, p in positions.items()} == history


async def test_a_missed_purge_is_answered_not_skipped(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        token = await server.token("alice")
        async with stream(server, token) as events:
            await alice.send("lobby", "before")
            await events.next_op("msg")
            last_id = events.last_id
        await alice.request("purge", room="lobby")
        async with stream(server, token, query=f"?last_event_id={last_id}") as events:
            answer = await events.next_op("resumed")
            assert answer["body"]["reason"] == "epoch_changed"
            assert decode_cursor(events.last_id)["lobby"].epoch == answer["body"]["epoch"]


@pytest.mark.parametrize("kept_alive", [False, True], ids=["fresh", "kept-alive"])
async def test_refused_streams(tmp_path: Path, kept_alive: bool) -> None:
    """The same refusals whether the listener serves the stream (a fresh connection)
    or aiohttp does (a connection that carried a request before)."""
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("secret", kind="private")
        carol = await server.token("carol")
        async with aiohttp.ClientSession() as http:
            cases = [
                ({"Authorization": "Bearer garbage"}, "", 401),
                ({}, "", 401),
                ({}, "?token=garbage", 401),
                ({"Authorization": f"Bearer {carol}"}, "?rooms=secret", 404),  # hidden
                ({"Authorization": f"Bearer {carol}"}, "?rooms=nowhere", 404),
                ({"Authorization": f"Bearer {carol}"}, "?last_event_id=x~y", 400),
                ({"Authorization": f"Bearer {carol}"}, "?rooms=", 400),
            ]
            for headers, query, status in cases:
                if kept_alive:
                    async with http.get(f"{server.url}/healthz") as answer:
                        assert answer.status == 200
                async with http.get(f"{server.url}/api/events{query}", headers=headers) as answer:
                    assert answer.status == status, (query, await answer.text())
                    assert "code" in await answer.json()
        async with stream(server, carol, query=f"?token={carol}") as events:
            assert events.last_id == ""  # carol is in no room


async def test_a_slow_stream_is_closed_while_others_keep_receiving(tmp_path: Path) -> None:
    def small_queue(config: HomerConfig) -> HomerConfig:
        unlimited = {"rate": 1e6, "burst": 1e6, "user_rate": 1e6, "user_burst": 1e6}
        return replace_config(config, limits={"send_queue": 64 * 1024, **unlimited})

    async with running_homer(tmp_path, configure=small_queue) as server:
        sender = await server.client("sender")
        await sender.create("firehose")
        await (await server.client("stalled")).join("firehose")
        await (await server.client("reader")).join("firehose")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(
            sock, (server.running.host, server.running.port)
        )
        reader, writer = await asyncio.open_connection(sock=sock)
        token = await server.token("stalled")
        writer.write(
            f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        await reader.readuntil(b"event: ready")
        writer.transport.pause_reading()  # never reads again
        async with stream(server, await server.token("reader")) as others:
            slow = server.app.metrics.slow_consumers
            sent = 0
            async with asyncio.timeout(60):
                while slow._value.get() < 1:
                    await asyncio.gather(*(sender.send("firehose", "x" * 7000) for _ in range(20)))
                    sent += 20
            for _ in range(sent):
                await others.next_op("msg")
        writer.transport.resume_reading()
        rest = await asyncio.wait_for(reader.read(), 10)
        while chunk := await asyncio.wait_for(reader.read(), 10):
            rest += chunk
        assert b'event: close\ndata: {"code":4008' in rest
        writer.close()


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.protocol: Any = None

    def write(self, data: bytes) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return 0

    def get_protocol(self) -> Any:
        return self.protocol

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def abort(self) -> None:
        pass


class CountingJSON:
    name = "json"
    text = True

    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, envelope: Envelope) -> bytes:
        self.encoded += 1
        return msgspec.json.encode(envelope)

    def decode(self, data: bytes) -> Any:
        return msgspec.json.decode(data)


async def test_the_fan_out_renders_each_event_once_for_every_stream(tmp_path: Path) -> None:
    app = Homer(HomerConfig(data_dir=str(tmp_path)))
    codec = CountingJSON()
    fmt = SSEFormat(codec)
    hub = Hub()
    transports = [FakeTransport() for _ in range(50)]
    for i, transport in enumerate(transports):
        peer = SSEPeer(app, fmt, "test")
        positions = {"lobby": (1, 0)} | ({"plans": (1, i)} if i % 2 else {})
        peer.start(transport, Envelope(op="ready"), positions)  # type: ignore[arg-type]
        hub.subscribe("lobby", peer)
    codec.encoded = 0
    for seq in range(1, 11):
        hub.to_room("lobby", Envelope(op="msg", room="lobby", seq=seq, body={"text": "x"}))
    with hub.batched():
        for seq in range(11, 21):
            hub.to_room("lobby", Envelope(op="msg", room="lobby", seq=seq, body={"text": "x"}))
    assert codec.encoded == 20, "once per event, not once per stream"
    # Each stream's id is its own cursor: every room it follows.
    assert transports[0].written.count(b"id: lobby~1~20\n") == 1
    assert b"id: lobby~1~20,plans~1~1\n" in transports[1].written
    assert b"id: lobby~1~20,plans~1~3\n" in transports[3].written


async def test_a_stream_on_a_fresh_connection_holds_no_task(tmp_path: Path) -> None:
    """Fresh connections stream without aiohttp (no handler task waits per stream);
    a connection that carried a request before streams through aiohttp. Both work."""
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        token = await server.token("alice")
        before = len(asyncio.all_tasks())
        async with contextlib.AsyncExitStack() as streams:
            # Each is open once its ready event has come.
            opened = [await streams.enter_async_context(stream(server, token)) for _ in range(15)]
            await asyncio.sleep(0.2)  # the set-up tasks (resume, presence) finish
            # The client side holds a task or two per stream's session; the server none.
            held = len(asyncio.all_tasks()) - before
            assert held < 15, held
            assert server.app.connections_from("127.0.0.1") == 16  # the streams and alice
            ack = await alice.send("lobby", "to every stream")
            for each in opened:
                assert (await each.next_op("msg"))["seq"] == ack["seq"]
        async with asyncio.timeout(5):
            while server.app.connections_from("127.0.0.1") > 1:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        # A kept-alive connection: the second request on it is a stream, via aiohttp.
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/healthz") as answer:
                assert answer.status == 200
            async with http.get(f"{server.url}/api/events", headers=headers) as response:
                assert response.status == 200
                kept = Stream(response)
                assert (await kept.next_op("ready"))["body"]["user"]["name"] == "alice"
                ack = await alice.send("lobby", "and to this one")
                assert (await kept.next_op("msg"))["seq"] == ack["seq"]


async def test_an_idle_stream_is_pinged_and_closed_when_its_token_expires(tmp_path: Path) -> None:
    """The sweep, stepped by hand: a stream cannot answer a ping, so the ping that
    goes through is its sign of life; its token's expiry closes it with a reason."""

    def quick(config: HomerConfig) -> HomerConfig:
        return replace_config(config, limits={"heartbeat": 1.0, "heartbeat_timeout": 1.0})

    clock = ManualClock()
    async with running_homer(tmp_path, configure=quick, clock=clock, sweep_period=None) as server:
        token = await server.token("amy", ttl=10.0)
        async with stream(server, token) as events:
            for _ in range(3):
                clock.advance(1.5)
                await server.app.sweep()
                async with asyncio.timeout(10):
                    line = b""
                    while not line.strip():
                        line = await events.response.content.readline()
                assert line == b": ping\n"
            clock.advance(10.0)
            await server.app.sweep()
            assert await events.next() == (
                "close",
                {"code": 4001, "reason": "token expired: refresh and reconnect"},
            )
