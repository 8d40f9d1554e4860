"""A commit batch of one node reaches the members on another node as it left: one
broker message, and one write per member connection, not one per message."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from homer.clock import ManualClock
from tests.cluster.test_presence import two_nodes
from tests.server.rawws import RecordedWrites
from tests.server.test_presence import hello

pytestmark = pytest.mark.timeout(120)

COUNT = 20


async def test_a_batch_from_another_node_is_one_write_per_member(
    tmp_path: Path, store_url: str, exchange: str
) -> None:
    async with two_nodes(tmp_path, store_url, exchange, ManualClock(1_000.0)) as (a, b):
        sender = await a.client("sender")
        await sender.create("batch")
        ws = await hello(b, "reader")
        await ws.send_json({"op": "join", "rid": 1, "room": "batch"})
        assert (await ws.reply(1))["op"] == "reply"
        await asyncio.wait_for(b.app.broker.settled(), 30)
        (peer,) = [p for p in b.app.peers if p.session and p.session.user.name == "reader"]
        spy = RecordedWrites(peer.transport)
        peer.transport = spy
        # Sent at once, stored together: one commit batch on node a.
        acks = await asyncio.gather(*(sender.send("batch", f"m{i}") for i in range(COUNT)))
        seqs = sorted(ack["seq"] for ack in acks)
        got: list[Any] = []
        async with asyncio.timeout(30):
            while len(got) < COUNT:
                event = await ws.json()
                if event["op"] == "msg" and event.get("kind") == "msg":
                    got.append(event["seq"])
        assert got == seqs, "each message once, in order"
        carrying = [w for w in spy.writes if b'"op":"msg"' in w]
        assert len(carrying) < COUNT, f"{len(carrying)} writes for {COUNT} messages"
