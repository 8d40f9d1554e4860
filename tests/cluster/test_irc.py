"""IRC on two ``homer serve`` processes sharing PostgreSQL and RabbitMQ: an IRC
client on one node and a WebSocket client on the other talk in one room, in
order, and the IRC user catches up on either node after being away."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cluster.nodes import PASSWORD, cluster
from tests.cluster.test_rich import heard
from tests.irc.lines import registered
from tests.services import AMQP

pytestmark = pytest.mark.timeout(120)


async def test_irc_and_websocket_across_nodes(
    tmp_path: Path, store_url: str, exchange: str
) -> None:
    async with cluster(tmp_path, store_url, AMQP, exchange, 2) as nodes:
        first, second = nodes.nodes
        ann = await nodes.user("ann", second.url)
        irky = await nodes.user("irky", first.url)
        try:
            await ann.create("town")
            await irky.join("town")
            await heard(ann, irky, "town")  # the first node follows the room
            async with registered(first.irc_port, "irky", password=PASSWORD) as irc:
                acks = [await ann.send("town", f"from the web {n}") for n in range(5)]
                said = []
                while len(said) < 5:
                    line = await irc.expect("PRIVMSG")
                    if line.params[1].startswith("from the web"):
                        said.append(line.params[1])
                assert said == [f"from the web {n}" for n in range(5)]
                await irc.send(*[f"PRIVMSG #town :from irc {n}" for n in range(5)])
                got: list[str] = []
                async with asyncio.timeout(30):
                    while len(got) < 5:
                        event = await ann.events.get()
                        if event.op == "msg" and event.kind == "msg" and event.sender == "irky":
                            got.append(event.body["text"])
                assert got == [f"from irc {n}" for n in range(5)]
            await irky.close()
            # Away: what is said meanwhile is replayed on the other node's IRC.
            missed = [await ann.send("town", f"while away {n}") for n in range(3)]
            assert missed[0]["seq"] > acks[-1]["seq"]
            async with registered(second.irc_port, "irky", password=PASSWORD) as again:
                replayed = []
                async with asyncio.timeout(30):
                    while len(replayed) < 3:
                        line = await again.expect("PRIVMSG")
                        if line.params[1].startswith("while away"):
                            replayed.append(line.params[1])
                assert replayed == [f"while away {n}" for n in range(3)]
        finally:
            await ann.close()
            await irky.close()
