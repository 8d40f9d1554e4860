"""Three ``homer serve`` processes on one PostgreSQL store and one RabbitMQ
exchange: every message once and in order on every node, through a broker
outage and the loss of a node."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from homer.client import HomerClient
from homer.testing.faults import FaultProxy
from tests.cluster.nodes import cluster
from tests.services import AMQP, rabbitmqctl

pytestmark = pytest.mark.timeout(120)


async def collect(client: HomerClient, room: str, count: int, within: float = 30) -> list[int]:
    """The seq of each ``msg`` event of ``room`` until ``count`` messages arrived."""
    seen: list[int] = []
    async with asyncio.timeout(within):
        while len(seen) < count:
            event = await client.events.get()
            if event.op == "msg" and event.room == room and event.kind == "msg":
                assert event.seq is not None
                seen.append(event.seq)
    return seen


def no_gap_no_duplicate(seen: list[int], acked: set[int]) -> None:
    assert seen == sorted(seen), "in sequence order"
    assert len(seen) == len(set(seen)), "no duplicate"
    assert acked <= set(seen), f"missing acknowledged: {sorted(acked - set(seen))[:10]}"


async def test_three_nodes_one_room_and_a_dm(tmp_path: Path, store_url: str, exchange: str) -> None:
    async with cluster(tmp_path, store_url, AMQP, exchange, 3) as nodes:
        ann = await nodes.user("ann", nodes.nodes[0].url)
        bob = await nodes.user("bob", nodes.nodes[1].url)
        cy = await nodes.user("cy", nodes.nodes[2].url)
        clients = [ann, bob, cy]
        try:
            await ann.create("town")
            await bob.join("town")
            await cy.join("town")
            await asyncio.sleep(0.3)  # the joins' bindings settle on every node
            readers = [asyncio.create_task(collect(c, "town", 150)) for c in clients]

            async def talk(client: HomerClient) -> list[int]:
                return [(await client.send("town", f"n{i}"))["seq"] for i in range(50)]

            acks = await asyncio.gather(*(talk(c) for c in clients))
            acked = {seq for part in acks for seq in part}
            assert len(acked) == 150, "three nodes writing one room: unique seq"
            for seen in await asyncio.gather(*readers):
                no_gap_no_duplicate(seen, acked)
                assert len(seen) == 150

            dm = await ann.request("dm", user="cy")
            room = dm["id"]
            reader = asyncio.create_task(collect(cy, room, 20))
            for i in range(20):
                await ann.send(room, f"psst {i}")
            assert len(await reader) == 20
        finally:
            for client in clients:
                await client.close()
        # SIGTERM: every node says goodbye and exits 0 promptly, broker and all.
        began = asyncio.get_running_loop().time()
        await nodes.stop()
        assert [node.process.returncode for node in nodes.nodes] == [0, 0, 0]
        assert asyncio.get_running_loop().time() - began < 10


async def test_broker_outage_loses_nothing_and_live_delivery_comes_back(
    tmp_path: Path, store_url: str, exchange: str, broker_proxy: FaultProxy
) -> None:
    async with cluster(tmp_path, store_url, broker_proxy.url(AMQP), exchange, 2) as nodes:
        ann = await nodes.user("ann", nodes.nodes[0].url)
        bob = await nodes.user("bob", nodes.nodes[1].url)
        try:
            await ann.create("ops")
            await bob.join("ops")
            await asyncio.sleep(0.3)
            total = 300
            reader = asyncio.create_task(collect(bob, "ops", total, within=60))
            acked: set[int] = set()
            for i in range(total):
                if i == 100:  # the broker goes away for three seconds mid-traffic
                    broker_proxy.refuse = True
                    broker_proxy.cut()
                if i == 200:
                    await asyncio.sleep(3)
                    broker_proxy.refuse = False
                    back = asyncio.get_running_loop().time()
                acked.add((await ann.send("ops", f"m{i}"))["seq"])
                await asyncio.sleep(0.005)
            seen = await reader
            no_gap_no_duplicate(seen, acked)
            assert asyncio.get_running_loop().time() - back < 10, "live again within 10 s"
            # Live delivery is back (not only the catch-up): one more message, seen promptly.
            late = asyncio.create_task(collect(bob, "ops", 1, within=10))
            ack = await ann.send("ops", "after")
            assert await late == [ack["seq"]]
            metrics = await nodes.nodes[1].metrics()
            assert metrics["homer_broker_resyncs_total"] >= 1
        finally:
            await ann.close()
            await bob.close()


@pytest.mark.serial
@pytest.mark.skipif(
    shutil.which("rabbitmqctl") is None or "HOMER_TEST_AMQP" in os.environ,
    reason="restarting RabbitMQ needs rabbitmqctl and the local server",
)
async def test_rabbitmq_restarted_mid_traffic(
    tmp_path: Path, store_url: str, exchange: str
) -> None:
    """The real broker restarts (its application: every connection and queue goes)."""
    async with cluster(tmp_path, store_url, AMQP, exchange, 2) as nodes:
        ann = await nodes.user("ann", nodes.nodes[0].url)
        bob = await nodes.user("bob", nodes.nodes[1].url)
        try:
            await ann.create("ops")
            await bob.join("ops")
            await asyncio.sleep(0.3)
            total = 200
            reader = asyncio.create_task(collect(bob, "ops", total + 1, within=90))
            acked: set[int] = set()
            for i in range(total):
                if i == 80:
                    try:
                        await rabbitmqctl("stop_app")
                    finally:
                        await rabbitmqctl("start_app")
                    back = asyncio.get_running_loop().time()
                acked.add((await ann.send("ops", f"m{i}"))["seq"])
                await asyncio.sleep(0.005)
            # Live delivery is back within 10 s of the broker: a message sent now
            # reaches bob within that bound.
            await asyncio.sleep(max(0.0, back + 8 - asyncio.get_running_loop().time()))
            last = (await ann.send("ops", "after"))["seq"]
            acked.add(last)
            sent_at = asyncio.get_running_loop().time()
            seen = await reader
            no_gap_no_duplicate(seen, acked)
            assert asyncio.get_running_loop().time() - sent_at < 2.0
            assert (await nodes.nodes[1].metrics())["homer_broker_resyncs_total"] >= 1
        finally:
            await ann.close()
            await bob.close()


async def test_a_killed_nodes_clients_resume_on_another_without_a_gap(
    tmp_path: Path, store_url: str, exchange: str
) -> None:
    async with cluster(tmp_path, store_url, AMQP, exchange, 3) as nodes:
        first, second, third = nodes.nodes
        ann = await nodes.user("ann", first.url)
        # bob's client knows two nodes: when the second dies it moves to the third.
        bob = await nodes.user("bob", second.url, third.url)
        try:
            await ann.create("hall")
            await bob.join("hall")
            await asyncio.sleep(0.3)
            reader = asyncio.create_task(collect(bob, "hall", 200, within=60))
            acked: set[int] = set()
            for i in range(200):
                if i == 80:
                    second.kill()
                acked.add((await ann.send("hall", f"m{i}"))["seq"])
                await asyncio.sleep(0.005)
            no_gap_no_duplicate(await reader, acked)
            assert bob.base_url == third.url
            assert bob.reconnects >= 1
        finally:
            await ann.close()
            await bob.close()
