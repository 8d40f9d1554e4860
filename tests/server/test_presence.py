"""Presence in rounds: every change of one window reaches each member's connection in
one frame, each change once, whatever the number of users.

The window is ended by a manual clock and one :meth:`Homer.sweep` step
(``sweep_period=None``), so no test waits for it. What a connection received by a
given moment is read up to the answer to a ``ping`` sent then: the server writes
in order, so a frame sent before the answer comes before it.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from homer.clock import ManualClock
from homer.messaging.presence import Presence
from homer.protocol.envelope import Envelope
from homer.testing.server import TestServer, running_homer
from tests.server.rawws import RawWebSocket

DELAY = 1.0  # limits.presence_delay, the default
_rids = itertools.count(1)


async def hello(server: TestServer, name: str) -> RawWebSocket:
    ws = await RawWebSocket.connect(server.running.host, server.running.port)
    await ws.send_json({"op": "hello", "rid": 0, "token": await server.token(name)})
    answer = await ws.reply(0)
    assert answer["op"] == "reply", answer
    return ws


async def close(server: TestServer, ws: RawWebSocket, user_id: str) -> None:
    """Close ``ws`` and wait until the server has seen it go."""
    before = len(server.app.hub.users.get(user_id, ()))
    await ws.close()
    async with asyncio.timeout(10):
        while len(server.app.hub.users.get(user_id, ())) >= before:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def received(ws: RawWebSocket) -> list[dict[str, Any]]:
    """Every event that reached ``ws`` since the last call."""
    rid = next(_rids)
    await ws.send_json({"op": "ping", "rid": rid})
    events = []
    while (document := await ws.json()).get("rid") != rid:
        events.append(document)
    return events


def presence_frames(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["op"] in ("presence", "presences")]


def changes_in(frame: dict[str, Any]) -> list[tuple[str, str, str]]:
    """A presence frame's changes as (uid, name, status), whichever its shape."""
    if frame["op"] == "presence":
        return [(frame["uid"], frame["sender"], frame["body"]["status"])]
    return [(c["uid"], c["name"], c["status"]) for c in frame["body"]["changes"]]


async def end_window(server: TestServer, clock: ManualClock) -> None:
    clock.advance(DELAY)
    await server.app.sweep()


async def members_of(server: TestServer, room: str, names: list[str]) -> dict[str, str]:
    """Make ``names`` members of ``room`` (created by the first): name -> user id."""
    app = server.app
    users = [await server.user(name) for name in names]
    await app.rooms.create(users[0], room_id=room, kind="public", name=room, topic="", meta=None)
    for user in users[1:]:
        await app.rooms.join(user, room)
    return {user.name: user.id for user in users}


async def test_a_crowd_coming_online_is_one_frame_per_member(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_homer(tmp_path, clock=clock, sweep_period=None) as server:
        crowd = [f"user{i:02d}" for i in range(40)]
        ids = await members_of(server, "lobby", ["watcher", "early", *crowd])
        watchers = [await hello(server, "watcher"), await hello(server, "early")]
        await end_window(server, clock)
        for ws in watchers:
            await received(ws)  # their own coming online
        arrived = [await hello(server, name) for name in crowd]
        await end_window(server, clock)
        expected = sorted((ids[name], name, "online") for name in crowd)
        for ws in watchers + arrived:
            frames = presence_frames(await received(ws))
            assert len(frames) == 1, "one frame per member for the whole window"
            (frame,) = frames
            assert frame["op"] == "presences"
            assert frame["room"] == "lobby"
            assert "sender" not in frame
            assert "uid" not in frame
            assert sorted(changes_in(frame)) == expected, "every change, each once"
        # Nothing changed since: the next window says nothing.
        await end_window(server, clock)
        for ws in watchers:
            assert presence_frames(await received(ws)) == []
        members = await server.app.rooms.members(
            await server.user("watcher"), "lobby", after=None, limit=100
        )
        assert {m["name"] for m in members.items} == set(ids)
        assert all(server.app.presence.status(ids[name]) == "online" for name in crowd)


async def test_a_flap_within_the_window_says_nothing(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_homer(tmp_path, clock=clock, sweep_period=None) as server:
        names = ["watcher", "flaky", "leaving", "blinking", "stepping"]
        ids = await members_of(server, "lobby", names)
        open_ = {name: await hello(server, name) for name in names}
        await end_window(server, clock)
        for ws in open_.values():
            await received(ws)
        # Within one window: a reconnect, a departure, away and back, away.
        await close(server, open_.pop("flaky"), ids["flaky"])
        open_["flaky"] = await hello(server, "flaky")
        await close(server, open_.pop("leaving"), ids["leaving"])
        blinking, stepping = open_["blinking"], open_["stepping"]
        for ws, statuses in ((blinking, ["away", "online"]), (stepping, ["away"])):
            for status in statuses:
                await ws.send_json({"op": "presence", "rid": status, "status": status})
                assert (await ws.reply(status))["op"] == "reply"
        await end_window(server, clock)
        (frame,) = presence_frames(await received(open_["watcher"]))
        assert sorted(changes_in(frame)) == sorted(
            [(ids["leaving"], "leaving", "offline"), (ids["stepping"], "stepping", "away")]
        )
        # A window with a single change keeps the one-change shape.
        await close(server, stepping, ids["stepping"])
        await end_window(server, clock)
        (frame,) = presence_frames(await received(open_["watcher"]))
        assert frame == {
            "op": "presence",
            "room": "lobby",
            "sender": "stepping",
            "uid": ids["stepping"],
            "body": {"status": "offline"},
        }


async def test_each_room_hears_of_its_own_members_only(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_homer(tmp_path, clock=clock, sweep_period=None) as server:
        both = await members_of(server, "red", ["both", "red1", "red2"])
        blue = await members_of(server, "blue", ["blue1", "blue2", "blue3"])
        await server.app.rooms.join(await server.user("both"), "blue")
        watcher = await hello(server, "both")
        await end_window(server, clock)
        await received(watcher)
        for name in ("red1", "red2", "blue2", "blue3"):
            await hello(server, name)
        await end_window(server, clock)
        frames = {f["room"]: f for f in presence_frames(await received(watcher))}
        assert sorted(frames) == ["blue", "red"], "one frame per room"
        assert sorted(changes_in(frames["red"])) == sorted(
            (both[n], n, "online") for n in ("red1", "red2")
        )
        assert sorted(changes_in(frames["blue"])) == sorted(
            (blue[n], n, "online") for n in ("blue2", "blue3")
        )


async def test_a_join_is_told_in_the_next_round(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_homer(tmp_path, clock=clock, sweep_period=None) as server:
        ids = await members_of(server, "lobby", ["watcher"])
        watcher = await hello(server, "watcher")
        joiners = {name: await hello(server, name) for name in ("ann", "ben")}
        await end_window(server, clock)
        await received(watcher)
        for name, ws in joiners.items():
            ids[name] = (await server.user(name)).id
            await ws.send_json({"op": "join", "rid": 1, "room": "lobby"})
            assert (await ws.reply(1))["op"] == "reply"
        assert presence_frames(await received(watcher)) == [], "not before the round"
        await end_window(server, clock)
        (frame,) = presence_frames(await received(watcher))
        assert sorted(changes_in(frame)) == sorted((ids[n], n, "online") for n in ("ann", "ben"))


class Published:
    """Events standing in for the broker: what each round publishes, per room."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []

    async def to_room(self, room: str, envelope: Envelope) -> None:
        self.events.append(envelope)


async def test_a_round_publishes_one_event_per_room() -> None:
    clock = ManualClock()
    published = Published()
    presence = Presence(published, delay=DELAY, clock=clock, timer=False)  # type: ignore[arg-type]
    for i in range(1000):
        rooms = ["all", "even" if i % 2 == 0 else "odd"]
        presence.connected(f"id{i}", f"user{i}", rooms)
    presence.disconnected("id1", "user1", ["all", "odd"])  # came and went: nothing
    await presence.tick(clock())
    assert published.events == [], "the window is still open"
    clock.advance(DELAY)
    await presence.tick(clock())
    by_room = {e.room: e for e in published.events}
    assert [e.room for e in published.events] == ["all", "even", "odd"]
    assert all(e.op == "presences" for e in published.events)
    users = {room: [c["name"] for c in e.body["changes"]] for room, e in by_room.items()}
    assert users["all"] == [f"user{i}" for i in range(1000) if i != 1]
    assert users["even"] == [f"user{i}" for i in range(0, 1000, 2)]
    assert users["odd"] == [f"user{i}" for i in range(3, 1000, 2)]
