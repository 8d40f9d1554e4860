"""A client may send ``hello`` and its next requests at once, without waiting for
``welcome``: what follows ``hello`` runs after it, over every stream transport."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest_asyncio

from homer.config import HomerConfig
from homer.testing.server import TestServer, replace_config, running_homer
from tests.server.rawws import RawWebSocket, client_frame

#: How many connections pipeline hello and their first requests, per transport.
ROUNDS = 200
#: At once: several connections pipelining together interleave on the server.
TOGETHER = 10


def generous(config: HomerConfig) -> HomerConfig:
    return replace_config(
        config,
        server={"tcp_port": 0},
        limits={"user_rate": 100_000.0, "user_burst": 100_000, "max_connections_per_user": 100},
    )


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    async with running_homer(tmp_path, configure=generous) as running:
        owner = await running.client("owner")
        await owner.create("lobby")
        yield running


def pipelined(token: str) -> list[dict[str, Any]]:
    """hello, then ten requests that each need the session (and none needs another's
    result: after hello, a connection's requests run concurrently)."""
    cid = uuid.uuid4().hex
    follow: list[dict[str, Any]] = [
        {"op": "ping"},
        {"op": "rooms"},
        {"op": "join", "room": "lobby"},
        {"op": "members", "room": "lobby"},
        {"op": "send", "room": "lobby", "text": "pipelined", "cid": cid},
        {"op": "history", "room": "lobby", "limit": 5},
        {"op": "resume", "rooms": {}},
        {"op": "read", "room": "lobby", "seq": 1},
        {"op": "directory"},
        {"op": "ping"},
    ]
    return [{"op": "hello", "rid": 0, "token": token}] + [
        {**request, "rid": rid} for rid, request in enumerate(follow, start=1)
    ]


def answers_are_replies(answers: dict[int, dict[str, Any]]) -> list[str]:
    """What went wrong, as text (empty when every request got a reply)."""
    return [
        f"rid {rid}: {answer['body']}"
        for rid, answer in sorted(answers.items())
        if answer["op"] != "reply"
    ]


async def over_websocket(server: TestServer, token: str) -> list[str]:
    ws = await RawWebSocket.connect(server.running.host, server.running.port)
    requests = pipelined(token)
    # Every request in one write: they reach the server together.
    await ws.send_raw(b"".join(client_frame(json.dumps(r).encode()) for r in requests))
    answers: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    async with asyncio.timeout(30):
        while len(answers) < len(requests):
            document = await ws.json()
            rid = document.get("rid")
            if isinstance(rid, int) and document["op"] in ("reply", "error"):
                answers[rid] = document
                order.append(rid)
    await ws.close()
    problems = answers_are_replies(answers)
    if order[0] != 0:
        problems.append(f"welcome came after {order[: order.index(0)]}")
    return problems


async def over_tcp(server: TestServer, token: str) -> list[str]:
    assert server.tcp_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.tcp_port)
    requests = pipelined(token)
    writer.write(b"".join(msgspec.json.encode(r) + b"\n" for r in requests))
    answers: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    try:
        async with asyncio.timeout(30):
            while len(answers) < len(requests):
                line = await reader.readline()
                assert line, "the server closed the connection"
                document = msgspec.json.decode(line)
                rid = document.get("rid")
                if isinstance(rid, int) and document["op"] in ("reply", "error"):
                    answers[rid] = document
                    order.append(rid)
    finally:
        writer.close()
    problems = answers_are_replies(answers)
    if order[0] != 0:
        problems.append(f"welcome came after {order[: order.index(0)]}")
    return problems


async def rounds(server: TestServer, run: Any) -> list[str]:
    member = await server.client("pipeliner")
    await member.join("lobby")
    await member.send("lobby", "hello")  # seq 1 exists for the read marker
    token = await server.token("pipeliner")
    failures: list[str] = []
    for _ in range(ROUNDS // TOGETHER):
        for problems in await asyncio.gather(*(run(server, token) for _ in range(TOGETHER))):
            failures.extend(problems)
    return failures


async def test_hello_and_ten_requests_at_once_over_websocket(server: TestServer) -> None:
    assert await rounds(server, over_websocket) == []


async def test_hello_and_ten_requests_at_once_over_tcp(server: TestServer) -> None:
    assert await rounds(server, over_tcp) == []


async def test_a_second_hello_waiting_behind_the_first_is_a_conflict(server: TestServer) -> None:
    token = await server.token("twice")
    ws = await RawWebSocket.connect(server.running.host, server.running.port)
    hello = {"op": "hello", "token": token}
    await ws.send_raw(
        b"".join(
            client_frame(json.dumps(r).encode())
            for r in ({**hello, "rid": 1}, {**hello, "rid": 2}, {"op": "ping", "rid": 3})
        )
    )
    assert (await ws.reply(1))["op"] == "reply"
    second = await ws.reply(2)
    assert second["op"] == "error"
    assert second["body"]["code"] == "conflict"
    assert (await ws.reply(3))["op"] == "reply"


async def test_a_failed_hello_answers_what_waited_behind_it(server: TestServer) -> None:
    ws = await RawWebSocket.connect(server.running.host, server.running.port)
    await ws.send_raw(
        client_frame(json.dumps({"op": "hello", "rid": 1, "token": "not-a-token"}).encode())
        + client_frame(json.dumps({"op": "ping", "rid": 2}).encode())
    )
    assert (await ws.reply(1))["body"]["code"] == "invalid_token"
    assert (await ws.reply(2))["body"]["code"] == "unauthenticated"


async def test_too_many_requests_behind_hello_are_refused_with_their_rid(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        burst = server.app.config.limits.burst
        token = await server.token("eager")
        ws = await RawWebSocket.connect(server.running.host, server.running.port)
        requests = [{"op": "hello", "rid": 0, "token": token}] + [
            {"op": "ping", "rid": rid} for rid in range(1, burst + 6)
        ]
        await ws.send_raw(b"".join(client_frame(json.dumps(r).encode()) for r in requests))
        codes: dict[int, str] = {}
        async with asyncio.timeout(30):
            while len(codes) < len(requests):
                document = await ws.json()
                if isinstance(document.get("rid"), int):
                    body = document["body"]
                    codes[document["rid"]] = "ok" if document["op"] == "reply" else body["code"]
        assert codes[0] == "ok"
        refused = sorted(rid for rid, code in codes.items() if code == "rate_limited")
        # Whatever did not fit behind hello is refused, each with its own rid; the rest ran.
        assert refused, codes
        assert all(codes[rid] == "ok" for rid in range(1, burst + 6) if rid not in refused)
