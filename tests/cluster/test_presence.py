"""Presence on two nodes sharing PostgreSQL and RabbitMQ: each node announces its own
sessions' changes, one event per room and window, and members on either node
hear the same changes, each once.

Both nodes run in this process on one manual clock, without sweepers: a test
ends a window by moving the clock and sweeping each node. Presence reaches the
members through the broker, so what arrived is read until every expected
change has; a later window's single change from each node then shows that
nothing else was on its way (a node's events reach a queue in order).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from homer.clock import ManualClock
from homer.config import HomerConfig, TokenConfig
from homer.testing.server import TestServer, running_homer
from tests.server.rawws import OPEN, RawWebSocket
from tests.server.test_presence import DELAY, changes_in, close, hello
from tests.services import AMQP

pytestmark = pytest.mark.timeout(120)

Change = tuple[str, str, str]


@contextlib.asynccontextmanager
async def two_nodes(
    tmp_path: Path, store_url: str, exchange: str, clock: ManualClock
) -> AsyncIterator[tuple[TestServer, TestServer]]:
    secret = tmp_path / "token-secret.key"  # one signing secret: a token is good on both

    def shared(config: HomerConfig) -> HomerConfig:
        return msgspec.structs.replace(
            config,
            store=store_url,
            broker=AMQP,
            broker_exchange=exchange,
            tokens=TokenConfig(secret_file=str(secret)),
        )

    async with (
        running_homer(tmp_path / "a", configure=shared, clock=clock, sweep_period=None) as a,
        running_homer(tmp_path / "b", configure=shared, clock=clock, sweep_period=None) as b,
    ):
        try:
            yield a, b
        finally:
            while OPEN:
                await OPEN.pop().close()


async def end_window(clock: ManualClock, *nodes: TestServer) -> None:
    clock.advance(DELAY)
    for node in nodes:
        await node.app.sweep()


async def hear(ws: RawWebSocket, expected: set[Change]) -> list[dict[str, Any]]:
    """The presence frames ``ws`` receives until every change in ``expected`` came."""
    frames: list[dict[str, Any]] = []
    seen: set[Change] = set()
    async with asyncio.timeout(30):
        while not expected <= seen:
            event = await ws.json()
            if event["op"] in ("presence", "presences"):
                frames.append(event)
                seen.update(changes_in(event))
    return frames


def each_once(frames: list[dict[str, Any]]) -> list[Change]:
    changes = [change for frame in frames for change in changes_in(frame)]
    assert len(changes) == len(set(changes)), f"a change came twice: {changes}"
    return sorted(changes)


async def test_two_nodes_announce_a_crowd_once_to_members_on_both(
    tmp_path: Path, store_url: str, exchange: str
) -> None:
    clock = ManualClock()
    async with two_nodes(tmp_path, store_url, exchange, clock) as (a, b):
        crowd_a = [f"a{i}" for i in range(8)]
        crowd_b = [f"b{i}" for i in range(8)]
        users = {n: await a.user(n) for n in ["wa", "wb", *crowd_a, *crowd_b, "sa", "sb"]}
        ids = {name: user.id for name, user in users.items()}
        await a.app.rooms.create(
            users["wa"], room_id="town", kind="public", name="town", topic="", meta=None
        )
        for name in list(users)[1:]:
            await a.app.rooms.join(users[name], "town")
        watchers = {"wa": await hello(a, "wa"), "wb": await hello(b, "wb")}
        for node in (a, b):
            await node.app.broker.settled()  # both nodes follow the room on the broker
        await end_window(clock, a, b)
        both = {(ids[n], n, "online") for n in ("wa", "wb")}
        for ws in watchers.values():
            await hear(ws, both)

        # A crowd on each node, within one window.
        sockets = {n: await hello(a, n) for n in crowd_a}
        sockets |= {n: await hello(b, n) for n in crowd_b}
        await end_window(clock, a, b)
        online = {(ids[n], n, "online") for n in crowd_a + crowd_b}
        for ws in watchers.values():
            frames = await hear(ws, online)
            assert each_once(frames) == sorted(online)
            assert len(frames) == 2, "one frame per node for the window"
            assert all(f["op"] == "presences" for f in frames)
            origins = sorted("".join(sorted({n[0] for _, n, _ in changes_in(f)})) for f in frames)
            assert origins == ["a", "b"], "each node announces its own sessions"

        # A flap, departures and a step away, on both nodes, within one window.
        await close(a, sockets.pop("a0"), ids["a0"])
        sockets["a0"] = await hello(a, "a0")
        await close(a, sockets.pop("a1"), ids["a1"])
        await close(b, sockets.pop("b0"), ids["b0"])
        await sockets["b1"].send_json({"op": "presence", "rid": 1, "status": "away"})
        assert (await sockets["b1"].reply(1))["op"] == "reply"
        await end_window(clock, a, b)
        changed = {
            (ids["a1"], "a1", "offline"),
            (ids["b0"], "b0", "offline"),
            (ids["b1"], "b1", "away"),
        }
        heard = {}
        for name, ws in watchers.items():
            frames = await hear(ws, changed)
            assert each_once(frames) == sorted(changed), "nothing of the flap"
            heard[name] = frames
        assert each_once(heard["wa"]) == each_once(heard["wb"]), "both nodes' members agree"

        # One change per node in the next window: nothing else was on its way.
        await hello(a, "sa")
        await hello(b, "sb")
        await end_window(clock, a, b)
        last = {(ids["sa"], "sa", "online"), (ids["sb"], "sb", "online")}
        for ws in watchers.values():
            frames = await hear(ws, last)
            assert each_once(frames) == sorted(last)
            assert [f["op"] for f in frames] == ["presence", "presence"]
