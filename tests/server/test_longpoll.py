"""HTTP long-poll at /api/queues: polls that wait or return at once, pruning by
acknowledgement, several rooms, exact resume after a queue is gone, idle
collection and slow queues."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from homer.clock import ManualClock
from homer.config import HomerConfig
from homer.testing.server import TestServer, replace_config, running_homer
from homer.transports.stream_cursor import decode_cursor


class Client:
    """A long-poll client over one HTTP session."""

    def __init__(self, server: TestServer, http: aiohttp.ClientSession, token: str) -> None:
        self.server = server
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    async def register(self, **body: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(
            f"{self.server.url}/api/queues", json=body, headers=self.headers
        ) as answer:
            return answer.status, await answer.json()

    async def queue(self, **body: Any) -> dict[str, Any]:
        status, answer = await self.register(**body)
        assert status == 201, answer
        return answer

    async def poll(
        self, queue: str, *, after: int | None = None, wait: float = 5.0
    ) -> tuple[int, dict[str, Any]]:
        query = f"?timeout={wait}" + (f"&after={after}" if after is not None else "")
        async with self.http.get(
            f"{self.server.url}/api/queues/{queue}/events{query}", headers=self.headers
        ) as answer:
            return answer.status, await answer.json()

    async def events(self, queue: str, *, after: int | None = None) -> dict[str, Any]:
        status, batch = await self.poll(queue, after=after)
        assert status == 200, batch
        return batch

    async def delete(self, queue: str) -> int:
        async with self.http.delete(
            f"{self.server.url}/api/queues/{queue}", headers=self.headers
        ) as answer:
            return answer.status


async def collect(
    client: Client, queue: str, count: int, *, after: int = 0
) -> tuple[list[dict[str, Any]], int, str]:
    """Poll (acknowledging as it goes) until ``count`` messages came; every event."""
    events: list[dict[str, Any]] = []
    cursor = ""
    async with asyncio.timeout(10):
        while sum(1 for e in events if e["op"] == "msg") < count:
            batch = await client.events(queue, after=after)
            events += [event["event"] for event in batch["events"]]
            after, cursor = batch["last_event_id"], batch["cursor"]
    return events, after, cursor


def texts(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["room"], e["body"]["text"]) for e in events if e["op"] == "msg"]


def limits(**values: Any) -> Any:
    def configure(config: HomerConfig) -> HomerConfig:
        return replace_config(config, limits=values)

    return configure


async def test_a_poll_returns_at_once_when_events_wait_and_after_the_timeout_otherwise(
    tmp_path: Path,
) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        alice = await server.client("alice")
        await alice.create("lobby")
        client = Client(server, http, await server.token("alice"))
        queue = (await client.queue())["queue"]
        started = time.monotonic()
        status, batch = await client.poll(queue, after=0, wait=0.3)
        assert status == 200
        assert batch["events"] == []
        assert batch["heartbeat"] is True
        assert time.monotonic() - started >= 0.25
        waiting = asyncio.ensure_future(client.poll(queue, after=0, wait=30))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await alice.send("lobby", "wake up")
        status, batch = await waiting
        assert time.monotonic() - started < 5
        assert [e["event"]["body"]["text"] for e in batch["events"]] == ["wake up"]
        assert batch["heartbeat"] is False
        started = time.monotonic()
        again = await client.events(queue, after=0)  # not acknowledged: still there
        assert time.monotonic() - started < 2
        assert again["events"] == batch["events"]


async def test_messages_over_websocket_and_post_reach_the_queue_in_order(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        alice = await server.client("alice")
        await alice.create("lobby")
        bob = await server.client("bob")
        await bob.join("lobby")
        client = Client(server, http, await server.token("bob"))
        queue = (await client.queue())["queue"]
        await alice.send("lobby", "over websocket")
        async with http.post(
            f"{server.url}/api/rooms/lobby/messages",
            json={"cid": "p1", "text": "over http"},
            headers={"Authorization": f"Bearer {await server.token('alice')}"},
        ) as answer:
            assert answer.status == 201
        await alice.send("lobby", "websocket again")
        events, last_id, cursor = await collect(client, queue, 3)
        assert [text for _, text in texts(events)] == [
            "over websocket",
            "over http",
            "websocket again",
        ]
        seqs = [e["seq"] for e in events if e["op"] == "msg"]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 3
        assert decode_cursor(cursor)["lobby"].seq == seqs[-1]
        assert last_id == len(events)


async def test_after_acknowledges_and_prunes(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        alice = await server.client("alice")
        await alice.create("lobby")
        client = Client(server, http, await server.token("alice"))
        queue = (await client.queue())["queue"]
        await alice.send("lobby", "one")
        await alice.send("lobby", "two")
        _events, _, _ = await collect(client, queue, 2)
        first = await client.events(queue)
        ids = [event["id"] for event in first["events"]]
        assert ids == sorted(ids)
        assert len(ids) == 2
        rest = await client.events(queue, after=ids[0])
        assert [e["id"] for e in rest["events"]] == ids[1:]
        assert rest["events"][0]["cursor"] == rest["cursor"]
        status, empty = await client.poll(queue, after=ids[1], wait=0)
        assert status == 200
        assert empty["events"] == []
        assert empty["last_event_id"] == ids[1]
        status, _ = await client.poll(queue, after=ids[1] + 5, wait=0)
        assert status == 400


async def test_one_queue_for_two_rooms_and_a_queue_of_one(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        alice = await server.client("alice")
        await alice.create("lobby")
        await alice.create("plans")
        client = Client(server, http, await server.token("alice"))
        both = await client.queue()
        assert set(decode_cursor(both["cursor"])) == {"lobby", "plans"}
        only = await client.queue(rooms=["plans"])
        assert set(decode_cursor(only["cursor"])) == {"plans"}
        await alice.send("lobby", "to lobby")
        await alice.send("plans", "to plans")
        events, _, cursor = await collect(client, both["queue"], 2)
        assert texts(events) == [("lobby", "to lobby"), ("plans", "to plans")]
        assert set(decode_cursor(cursor)) == {"lobby", "plans"}
        events, _, cursor = await collect(client, only["queue"], 1)
        assert texts(events) == [("plans", "to plans")]
        assert set(decode_cursor(cursor)) == {"plans"}


async def test_a_gone_queue_is_404_and_registering_with_the_cursor_resumes_exactly(
    tmp_path: Path,
) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        alice = await server.client("alice")
        await alice.create("lobby")
        await alice.create("plans")
        client = Client(server, http, await server.token("alice"))
        status, answer = await client.poll("no-such-queue")
        assert status == 404
        assert answer["code"] == "not_found"
        assert answer["fields"] == {"queue": "unknown"}
        assert "register again" in answer["message"]
        queue = (await client.queue())["queue"]
        await alice.send("lobby", "seen 1")
        await alice.send("plans", "seen 2")
        _, _, cursor = await collect(client, queue, 2)
        assert await client.delete(queue) == 204
        status, answer = await client.poll(queue)
        assert status == 404
        assert answer["fields"] == {"queue": "unknown"}
        assert await client.delete(queue) == 404
        missed = [("lobby", "missed 1"), ("plans", "missed 2"), ("lobby", "missed 3")]
        for room, text in missed:
            await alice.send(room, text)
        queue = (await client.queue(cursor=cursor))["queue"]
        events, after, _ = await collect(client, queue, 3)
        answers = {e["room"]: e["body"] for e in events if e["op"] == "resumed"}
        assert answers["lobby"]["recovered"]
        assert answers["lobby"]["count"] == 2
        assert sorted(texts(events)) == sorted(missed)
        await alice.send("plans", "live")
        events, _, cursor = await collect(client, queue, 1, after=after)
        assert texts(events) == [("plans", "live")], "no duplicate, no gap"
        positions = decode_cursor(cursor)
        history = {room: (await alice.history(room, limit=1))[-1].seq for room in positions}
        assert {room: p.seq for room, p in positions.items()} == history


async def test_an_idle_queue_is_collected(tmp_path: Path) -> None:
    async with (
        running_homer(tmp_path, configure=limits(queue_idle=0.3)) as server,
        aiohttp.ClientSession() as http,
    ):
        alice = await server.client("alice")
        await alice.create("lobby")
        client = Client(server, http, await server.token("alice"))
        kept = (await client.queue())["queue"]
        idle = await client.queue()
        assert idle["expires_in"] == 0.3
        peers = len(server.app.peers)
        for _ in range(4):  # a poll, even a long one, keeps a queue alive
            status, _ = await client.poll(kept, wait=0.2)
            assert status == 200
        status, answer = await client.poll(idle["queue"])
        assert status == 404
        assert answer["fields"] == {"queue": "unknown"}
        assert len(server.app.peers) == peers - 1


async def test_a_queue_that_overflows_is_dropped_and_the_client_resumes_without_loss(
    tmp_path: Path,
) -> None:
    async with (
        running_homer(tmp_path, configure=limits(queue_events=3)) as server,
        aiohttp.ClientSession() as http,
    ):
        alice = await server.client("alice")
        await alice.create("lobby")
        client = Client(server, http, await server.token("alice"))
        registered = await client.queue()
        sent = [f"m{i}" for i in range(6)]
        for text in sent:
            await alice.send("lobby", text)
        status, answer = await client.poll(registered["queue"], wait=0)
        assert status == 404
        assert answer["fields"] == {"queue": "too_slow"}
        assert server.app.metrics.slow_consumers._value.get() >= 1
        queue = (await client.queue(cursor=registered["cursor"]))["queue"]
        events, _, _ = await collect(client, queue, 6)
        assert [text for _, text in texts(events)] == sent


async def test_refused_queues_and_a_second_poll(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        alice = await server.client("alice")
        await alice.create("secret", kind="private")
        carol = Client(server, http, await server.token("carol"))
        cases: list[tuple[dict[str, str], dict[str, Any], int]] = [
            ({"Authorization": "Bearer garbage"}, {}, 401),
            ({}, {}, 401),
            (carol.headers, {"rooms": ["secret"]}, 404),  # hidden
            (carol.headers, {"rooms": ["nowhere"]}, 404),
            (carol.headers, {"rooms": []}, 400),
            (carol.headers, {"cursor": "x~y"}, 400),
        ]
        for headers, body, status in cases:
            async with http.post(f"{server.url}/api/queues", json=body, headers=headers) as a:
                assert a.status == status, (body, await a.text())
                assert "code" in await a.json()
        queue = (await carol.queue())["queue"]
        stranger = Client(server, http, await server.token("alice"))
        status, _ = await stranger.poll(queue, wait=0)
        assert status == 404, "another user's queue is unknown to them"
        status, _ = await Client(server, http, "garbage").poll(queue, wait=0)
        assert status == 401
        first = asyncio.ensure_future(carol.poll(queue, wait=30))
        await asyncio.sleep(0.1)
        status, second = await carol.poll(queue, wait=0.2)
        assert status == 200
        assert second["heartbeat"] is True
        status, replaced = await asyncio.wait_for(first, 5)
        assert status == 200
        assert replaced["events"] == []
        assert replaced["replaced"] is True


async def test_a_queue_speaks_the_codec_its_registration_accepts(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        alice = await server.client("alice")
        await alice.create("lobby")
        token = await server.token("alice")
        packed = {"Authorization": f"Bearer {token}", "Accept": "application/msgpack"}
        async with http.post(f"{server.url}/api/queues", headers=packed) as answer:
            assert answer.status == 201
            assert answer.content_type == "application/msgpack"
            queue = msgspec.msgpack.decode(await answer.read())
        await alice.send("lobby", "packed for you")
        url = f"{server.url}/api/queues/{queue['queue']}/events?after=0&timeout=5"
        texts: list[str] = []
        after = 0
        async with asyncio.timeout(10):
            while "packed for you" not in texts:
                async with http.get(url.replace("after=0", f"after={after}"), headers=packed) as a:
                    assert a.content_type == "application/msgpack"
                    batch = msgspec.msgpack.decode(await a.read())
                for polled in batch["events"]:
                    after = polled["id"]
                    assert decode_cursor(polled["cursor"])["lobby"].seq >= 1
                    if polled["event"]["op"] == "msg" and polled["event"].get("kind") == "msg":
                        texts.append(polled["event"]["body"]["text"])
        assert texts == ["packed for you"]
        # A queue speaks JSON or MessagePack: other types are refused before it exists.
        refused = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
        async with http.post(f"{server.url}/api/queues", headers=refused) as answer:
            assert answer.status == 406
            assert "application/msgpack" in await answer.text()
        assert server.app.connections_from("127.0.0.1") == 2  # alice's client and the queue


async def test_a_queue_whose_token_expires_is_closed_and_says_why(tmp_path: Path) -> None:
    """The sweep, stepped by hand: a queue cannot answer a ping and is not dropped
    for silence (idle collection does that), but its token's expiry closes it."""
    clock = ManualClock()
    async with (
        running_homer(
            tmp_path,
            configure=limits(heartbeat=1.0, heartbeat_timeout=1.0),
            clock=clock,
            sweep_period=None,
        ) as server,
        aiohttp.ClientSession() as http,
    ):
        client = Client(server, http, await server.token("alice", ttl=10.0))
        queue = (await client.queue())["queue"]
        for _ in range(3):
            clock.advance(1.5)
            await server.app.sweep()
        status, batch = await client.poll(queue, wait=0)
        assert status == 200, batch
        clock.advance(10.0)
        await server.app.sweep()
        # The client logs in again (the old token is refused at once) and learns why.
        client.headers["Authorization"] = f"Bearer {await server.token('alice')}"
        status, answer = await client.poll(queue, wait=0)
        assert status == 404
        assert answer["fields"] == {"queue": "unauthenticated"}
