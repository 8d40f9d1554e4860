"""A broker that misbehaves under a cluster: acks and this node's own deliveries
never wait for it, and every node's ``homer_broker_connected`` says what its own
connection is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from homer.testing.faults import FaultProxy
from tests.cluster.nodes import Node, cluster
from tests.cluster.test_cluster import collect, no_gap_no_duplicate
from tests.services import AMQP

pytestmark = pytest.mark.timeout(120)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 60) -> None:
    """Scrape until ``check`` holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"not after {within} s: {what}")
        await asyncio.sleep(0.2)


def gauge(node: Node, value: float) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await node.metrics())["homer_broker_connected"] == value

    return check


async def test_a_hung_broker_holds_up_no_ack_and_no_local_delivery(
    tmp_path: Path, store_url: str, exchange: str, broker_proxy: FaultProxy
) -> None:
    """RabbitMQ stops forwarding anything while its connections stay up. Sends on
    the first node are acknowledged and reach its other sessions all along; the
    node marks the broker down, and once it answers again reconnects, resyncs
    and says so; the second node's member gets everything, once, in order."""
    async with cluster(tmp_path, store_url, broker_proxy.url(AMQP), exchange, 2) as nodes:
        first, second = nodes.nodes
        ann = await nodes.user("ann", first.url)
        cy = await nodes.user("cy", first.url)
        bob = await nodes.user("bob", second.url)
        try:
            await ann.create("ops")
            await cy.join("ops")
            await bob.join("ops")
            await asyncio.sleep(0.3)  # the joins' bindings settle on every node
            total = 40
            seen_by_bob = asyncio.create_task(collect(bob, "ops", total, within=90))
            seen_by_cy = asyncio.create_task(collect(cy, "ops", total, within=60))
            acked = {(await ann.send("ops", f"m{i}"))["seq"] for i in range(10)}
            broker_proxy.stall = True
            async with asyncio.timeout(30):  # one publish deadline is 5 s: far less than 20
                for i in range(10, total):
                    acked.add((await ann.send("ops", f"m{i}"))["seq"])
            no_gap_no_duplicate(await seen_by_cy, acked)
            assert broker_proxy.stall, "all of it while the broker hangs"
            await eventually(gauge(first, 0), "the sending node marks the broker down")
            broker_proxy.stall = False
            await eventually(gauge(first, 1), "and sees it back")
            assert (await first.metrics())["homer_broker_resyncs_total"] >= 1
            assert "is back after" in first.log.read_text()
            no_gap_no_duplicate(await seen_by_bob, acked)
        finally:
            broker_proxy.stall = False
            for client in (ann, cy, bob):
                await client.close()


async def test_a_node_that_only_listens_reports_its_own_connection(
    tmp_path: Path, store_url: str, exchange: str, broker_proxy: FaultProxy
) -> None:
    """The second node has no session: it publishes nothing, so only its connection
    can tell it that the broker went away, and came back."""
    async with cluster(tmp_path, store_url, broker_proxy.url(AMQP), exchange, 2) as nodes:
        second = nodes.nodes[1]
        assert (await second.metrics())["homer_broker_connected"] == 1
        broker_proxy.refuse = True
        broker_proxy.cut()
        await eventually(gauge(second, 0), "a node that never publishes sees the loss")
        broker_proxy.refuse = False
        await eventually(gauge(second, 1), "and the connection back")
        assert (await second.metrics())["homer_broker_resyncs_total"] >= 1
