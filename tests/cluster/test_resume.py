"""Resuming on a cluster under live traffic, seen by a plain protocol client that
keeps every frame: each connection's stream of a room is exactly the next seqs,
once each, in order, however the replay and live traffic meet.

A sender on the first node writes at about 200 messages a second while another
process keeps a core busy: that is when a replay, a live event, a parked one and
a read from the store reach a connection close together."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from homer.client import HomerClient
from tests.cluster.nodes import Cluster, cluster
from tests.services import AMQP

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("busy_core")]

ROOM = "stream"


class Raw:
    """One WebSocket connection speaking the protocol by hand: the seq of every
    ``msg`` of the room as it arrived, and every ``resumed`` answer."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seqs: list[int] = []
        self.answers: list[dict[str, Any]] = []
        self.replies: dict[int, dict[str, Any]] = {}
        self.arrived = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self._rids = iter(range(2, 1_000_000))

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = message.json()
            op = frame.get("op")
            if op == "msg" and frame.get("room") == ROOM:
                self.seqs.append(frame["seq"])
                self.arrived.set()
            elif op == "resumed":
                self.answers.append(frame["body"])
            elif frame.get("rid") is not None:
                self.replies[frame["rid"]] = frame

    async def resume(self, seq: int) -> None:
        await self.ws.send_json(
            {"op": "resume", "rid": next(self._rids), "rooms": {ROOM: {"epoch": 1, "seq": seq}}}
        )

    async def wait_for(self, seq: int, within: float = 30) -> None:
        async with asyncio.timeout(within):
            while not self.seqs or self.seqs[-1] < seq:
                self.arrived.clear()
                await self.arrived.wait()

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await self._reader


@contextlib.asynccontextmanager
async def raw(
    http: aiohttp.ClientSession, url: str, token: str, position: int | None = None
) -> AsyncIterator[Raw]:
    ws = await http.ws_connect(url + "/ws")
    hello: dict[str, Any] = {"op": "hello", "rid": 1, "token": token}
    if position is not None:
        hello["resume"] = {ROOM: {"epoch": 1, "seq": position}}
    await ws.send_json(hello)
    welcome = await ws.receive_json()
    assert welcome["op"] == "reply", welcome
    connection = Raw(ws)
    try:
        yield connection
    finally:
        await connection.close()


def exactly_after(position: int, seqs: list[int]) -> None:
    """The stream continues from ``position``: every next seq, once, in order."""
    expected = list(range(position + 1, position + 1 + len(seqs)))
    if seqs != expected:
        bad = next(i for i, (a, b) in enumerate(zip(seqs, expected, strict=True)) if a != b)
        raise AssertionError(
            f"after {position}: ... {seqs[max(0, bad - 3) : bad + 4]} at index {bad}"
        )


class Sender:
    """About 200 messages a second into the room from a client on the first node."""

    def __init__(self, client: HomerClient) -> None:
        self.client = client
        self.acked: list[int] = []
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._stop = asyncio.Event()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        sends: set[asyncio.Task[Any]] = set()
        i = 0
        while not self._stop.is_set():
            i += 1
            task = loop.create_task(self.client.send(ROOM, f"m{i}"))
            task.add_done_callback(lambda done: self.acked.append(done.result()["seq"]))
            sends.add(task)
            task.add_done_callback(sends.discard)
            await asyncio.sleep(0.005)
        if sends:
            await asyncio.gather(*sends)

    async def stop(self) -> int:
        """Stop sending; the last seq acknowledged."""
        self._stop.set()
        await self._task
        return max(self.acked)


async def setup(nodes: Cluster) -> tuple[HomerClient, str]:
    ann = await nodes.user("ann", nodes.nodes[0].url)
    await ann.create(ROOM)
    bob = await nodes.user("bob", nodes.nodes[1].url)
    await bob.join(ROOM)
    token = bob.token
    assert token is not None
    await bob.close()
    return ann, token


async def test_connections_resuming_where_nobody_else_follows_the_room(
    tmp_path: Path, store_url: str, exchange: str
) -> None:
    """A chain of connections, each resuming where the last stopped, alternately
    on the two nodes without any other session in the room: every connection's
    stream is exactly the seqs after its position."""
    async with cluster(tmp_path, store_url, AMQP, exchange, 3) as nodes:
        ann, token = await setup(nodes)
        sender = Sender(ann)
        position = 0
        streams: list[tuple[int, list[int]]] = []
        try:
            async with aiohttp.ClientSession() as http:
                for turn in range(40):
                    node = nodes.nodes[1 + turn % 2]
                    async with raw(http, node.url, token, position) as connection:
                        await asyncio.sleep(random.uniform(0.05, 0.3))
                    streams.append((position, connection.seqs))
                    if connection.seqs:
                        position = connection.seqs[-1]
                last = await sender.stop()
                async with raw(http, nodes.nodes[2].url, token, position) as connection:
                    if position < last:  # the chain may have seen the last one already
                        await connection.wait_for(last)
                streams.append((position, connection.seqs))
        finally:
            await ann.close()
        broken = []
        for start, seqs in streams:
            try:
                exactly_after(start, seqs)
            except AssertionError as exc:
                broken.append(str(exc))
        assert not broken, f"{len(broken)} of {len(streams)} connections: {broken[:3]}"
        start, seqs = streams[-1]
        assert (seqs[-1] if seqs else start) == last, "the chain ends at the last message"


async def test_resume_requests_on_live_connections(
    tmp_path: Path, store_url: str, exchange: str
) -> None:
    """Connections on the second and third nodes send 200 ``resume`` requests in all,
    each from the last seq they hold, while messages flow: every stream is exactly
    1..N, and each answer says where its replay starts."""
    async with cluster(tmp_path, store_url, AMQP, exchange, 3) as nodes:
        ann, token = await setup(nodes)
        async with (
            aiohttp.ClientSession() as http,
            raw(http, nodes.nodes[1].url, token) as second,
            raw(http, nodes.nodes[2].url, token) as third,
            raw(http, nodes.nodes[2].url, token) as fourth,
        ):
            start = (await ann.history(ROOM))[-1].seq
            assert start is not None
            sender = Sender(ann)
            try:
                for turn in range(200):
                    connection = (second, third, fourth)[turn % 3]
                    await connection.resume(connection.seqs[-1] if connection.seqs else start)
                    await asyncio.sleep(random.uniform(0.0, 0.05))
                last = await sender.stop()
            finally:
                await ann.close()
            broken = []
            for connection in (second, third, fourth):
                await connection.wait_for(last)
                try:
                    exactly_after(start, connection.seqs)
                except AssertionError as exc:
                    broken.append(str(exc))
                for answer in connection.answers:
                    assert answer["recovered"], answer
            assert not broken, f"{len(broken)} of 3 connections: {broken}"
            assert sum(len(c.answers) for c in (second, third, fourth)) == 200
