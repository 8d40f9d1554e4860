"""Rich messaging on two ``homer serve`` processes sharing PostgreSQL and RabbitMQ:
changes made on one node reach the members on the other in order, concurrent
reactions from both nodes count exactly, and search on either finds the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homer.client import HomerClient
from homer.protocol.envelope import Envelope
from tests.cluster.nodes import cluster
from tests.services import AMQP

pytestmark = pytest.mark.timeout(120)


async def changes(client: HomerClient, room: str, count: int) -> list[Envelope]:
    """The next ``count`` events of ``room`` with a ``seq`` (messages and changes)."""
    seen: list[Envelope] = []
    async with asyncio.timeout(30):
        while len(seen) < count:
            event = await client.events.get()
            if event.op == "msg" and event.room == room and event.kind != "join":
                seen.append(event)
    return seen


async def heard(speaker: HomerClient, listener: HomerClient, room: str) -> None:
    """Wait until what ``speaker`` says in ``room`` reaches ``listener`` live (the
    listener's node is bound to the room)."""
    for attempt in range(50):
        ack = await speaker.send(room, f"anyone there? {attempt}")
        try:
            async with asyncio.timeout(0.5):
                while (await listener.events.get()).seq != ack["seq"]:
                    pass
            return
        except TimeoutError:
            continue
    raise AssertionError(f"{room} never reached the other node")


async def test_changes_cross_nodes_in_order(tmp_path: Path, store_url: str, exchange: str) -> None:
    async with cluster(tmp_path, store_url, AMQP, exchange, 2) as nodes:
        ann = await nodes.user("ann", nodes.nodes[0].url)
        bob = await nodes.user("bob", nodes.nodes[1].url)
        try:
            await ann.create("town")
            await bob.join("town")
            await heard(ann, bob, "town")
            watching = asyncio.create_task(changes(bob, "town", 4))
            root = await ann.send("town", "release on friday")
            await ann.edit("town", root["seq"], "release on thursday")
            await ann.react("town", root["seq"], "🚀")
            reply = await ann.send("town", "ok", thread=root["seq"])
            seen = await watching
            assert [(e.kind, e.seq) for e in seen] == [
                ("msg", root["seq"]),
                ("edit", root["seq"] + 1),
                ("react", root["seq"] + 2),
                ("msg", reply["seq"]),
            ]
            # A mention made on one node reaches the user on the other.
            said = await ann.send("town", "@bob, over to you")
            async with asyncio.timeout(30):
                while (event := await bob.events.get()).op != "mention":
                    pass
            assert (event.room, event.sender, event.body["seq"]) == ("town", "ann", said["seq"])
            # Reactions from both nodes at once: one per user and key, counted exactly.
            keys = ["👍", "🎉", "❤️", "👀", "🙌"]
            await asyncio.gather(
                *(client.react("town", root["seq"], key) for client in (ann, bob) for key in keys)
            )
            for client in (ann, bob):
                (shown,) = [m for m in await client.history("town") if m.seq == root["seq"]]
                counts = {r["key"]: r["count"] for r in shown.body["reactions"]}
                assert counts == {"🚀": 1, **dict.fromkeys(keys, 2)}
                assert shown.body["text"] == "release on thursday"
                assert shown.body["thread_summary"]["replies"] == 1
                (hit,) = await client.search("thursday")
                assert hit["message"].seq == root["seq"]
        finally:
            await ann.close()
            await bob.close()
