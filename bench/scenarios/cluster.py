"""Several nodes: one node against three on PostgreSQL and RabbitMQ, and durable
sends on PostgreSQL.

Needs PostgreSQL and RabbitMQ on 127.0.0.1 (``scripts/services`` starts them);
``HOMER_TEST_POSTGRESQL`` and ``HOMER_TEST_AMQP`` point elsewhere. The scenario
creates a database and an exchange of its own and removes both afterwards.

* ``cpu_us_per_delivery_node<k>`` (``1 node`` and ``3 nodes``): each node's CPU
  time (psutil, every thread) over a full-speed fan-out run, divided by the
  deliveries to its own sessions: one room of ``FANS`` members, a publisher on
  node 1, members dealt round-robin over the nodes. Node 1 also stores every
  message; the others only receive them from RabbitMQ and fan them out.
  ``cpu_us_per_delivery_all`` is the CPU of every node over every delivery.
* ``p50_ms`` / ``p99_ms``: send -> receipt at an offered ``PACED`` messages per
  second (each to ``FANS`` members), for members on the publisher's node
  (``local``) and on the other two (``cross-node``).
* ``acks_per_s_50_senders``: 50 senders, each in its own room, one send in
  flight each (as in ``persistence``), on one node with PostgreSQL, and the same
  on SQLite in the same run as the reference.
* ``lost`` / ``duplicates``: over every fan-out run; must be 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .common import Record, record
from .netkit import SENDERS, SOURCES, HomerServer, Lab, call_all, log, percentile

SCENARIO = "cluster"
POSTGRESQL = os.environ.get("HOMER_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
AMQP = os.environ.get("HOMER_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
FANS = 300
SIZE = 100
WINDOW = 50
PACED = 20.0  # messages per second, each to FANS members: 6,000 deliveries/s


def run(quick: bool) -> list[Record]:
    rounds = 2 if quick else 4
    count = 40 if quick else 150
    paced_seconds = 1.5 if quick else 4.0
    per_sender = 60 if quick else 300
    records: list[Record] = []
    with _scratch() as (store, exchange), Lab() as lab:
        secret = lab.root / "token-secret.key"
        tokens = asyncio.run(_prepare(store, secret))
        env = {
            "HOMER_STORE": store,
            "HOMER_BROKER": AMQP,
            "HOMER_BROKER_EXCHANGE": exchange,
            "HOMER_TOKENS_SECRET_FILE": str(secret),
            "HOMER_LIMITS_PRESENCE_DELAY": "3600",
        }
        clients = [lab.client() for _ in range(2)]
        publisher = lab.client()
        lost = duplicates = 0
        for size in (1, 3):
            nodes = [_node(lab, env) for _ in range(size)]
            log(f"cluster: {size} node(s) up")
            homes = [nodes[i % size] for i in range(FANS)]
            # Client 0 holds the publisher's node's members (local), client 1 the
            # others' (cross-node); with one node, each holds half.
            for c, client in enumerate(clients):
                for node in nodes:
                    mine = [
                        tokens["fans"][i]
                        for i in range(FANS)
                        if homes[i] is node
                        and (c == 0) == (node is nodes[0] and (size > 1 or i % 2 == 0))
                    ]
                    if not mine:
                        continue
                    opened = client.call(
                        "open",
                        kind="homer",
                        host=node.host,
                        port=node.port,
                        tokens=mine,
                        sources=SOURCES,
                    )
                    if opened["failed"]:
                        raise RuntimeError(f"cluster: subscribers failed: {opened}")
            conn = publisher.call(
                "open",
                kind="homer",
                host=nodes[0].host,
                port=nodes[0].port,
                tokens=tokens["owner"],
            )["first"]
            for node in nodes:
                node.settle(max_wait=30.0)

            def fanout(
                n: int,
                rate: float | None,
                nodes: list[HomerServer] = nodes,
                homes: list[HomerServer] = homes,
                conn: int = conn,
                size: int = size,
            ) -> dict[str, Any]:
                nonlocal lost, duplicates
                call_all(clients, "reset", latency=rate is not None)
                cpu0 = [node.cpu() for node in nodes]
                sent = publisher.call(
                    "publish", room="fan", count=n, window=WINDOW, rate=rate, size=SIZE, conn=conn
                )
                waited = call_all(
                    clients,
                    "wait",
                    kind="homer",
                    room="fan",
                    expected=n,
                    max_seconds=60.0,
                    latencies=rate is not None,
                )
                cpu1 = [node.cpu() for node in nodes]
                if sent["failed"]:
                    raise RuntimeError(f"cluster: sends failed: {sent['errors']}")
                lost += sum(w["lost"] for w in waited)
                duplicates += sum(w["extra"] for w in waited)
                per_node = [n * sum(1 for h in homes if h is node) for node in nodes]
                latencies: dict[str, list[float]] = defaultdict(list)
                latencies["local"] += waited[0]["lat"]
                latencies["cross-node" if size > 1 else "local"] += waited[1]["lat"]
                return {
                    "cpu": [
                        (b - a) / d * 1e6 for a, b, d in zip(cpu0, cpu1, per_node, strict=True)
                    ],
                    "all": (sum(cpu1) - sum(cpu0)) / sum(per_node) * 1e6,
                    "lat": latencies,
                }

            fanout(3, None)  # warm up
            samples: dict[str, list[float]] = defaultdict(list)
            for _ in range(rounds):
                found = fanout(count, None)
                for k, value in enumerate(found["cpu"]):
                    samples[f"cpu_us_per_delivery_node{k + 1}"].append(value)
                samples["cpu_us_per_delivery_all"].append(found["all"])
                for node in nodes:
                    node.settle(max_wait=5.0)
            paced = fanout(max(2, round(PACED * paced_seconds)), PACED)
            system = f"{size} node" + ("s" if size > 1 else "")
            for metric, values in samples.items():
                records.append(
                    record(SCENARIO, system, metric, round(statistics.median(values), 2), "us")
                )
            for where, values in sorted(paced["lat"].items()):
                for q in (0.50, 0.99):
                    records.append(
                        record(
                            SCENARIO,
                            system,
                            f"p{round(q * 100)}_ms_{where}",
                            round(percentile(values, q) * 1e3, 2),
                            f"ms at {PACED * FANS:,.0f} deliveries/s",
                        )
                    )
            for client in (*clients, publisher):
                client.call("close")
            for node in nodes:
                lab.stop(node)
        records.append(record(SCENARIO, "homer", "lost", lost, "deliveries"))
        records.append(record(SCENARIO, "homer", "duplicates", duplicates, "deliveries"))

        reference = "sqlite:///" + str(lab.root / "reference.db")
        for system, url in (("postgresql", store), ("sqlite", reference)):
            senders = (
                tokens["senders"] if url == store else asyncio.run(_prepare(url, secret))["senders"]
            )
            node = _node(lab, {**env, "HOMER_STORE": url, "HOMER_BROKER": "inprocess"})
            sender = lab.client()
            opened = sender.call(
                "open", kind="homer", host=node.host, port=node.port, tokens=senders
            )
            if opened["failed"]:
                raise RuntimeError(f"cluster: senders failed: {opened}")
            rooms = [f"p{i}" for i in range(SENDERS)]
            sender.call("sendloop", rooms=rooms, count=10)
            rates = []
            for _ in range(rounds):
                node.settle(max_wait=5.0)
                result = sender.call("sendloop", rooms=rooms, count=per_sender)
                if result["failed"]:
                    raise RuntimeError(f"cluster: sends failed: {result['errors']}")
                rates.append(result["acks"] / (result["t1"] - result["t0"]))
            records.append(
                record(
                    SCENARIO,
                    system,
                    "acks_per_s_50_senders",
                    round(statistics.median(rates)),
                    "acks/s",
                )
            )
            sender.call("close")
            lab.stop(node)
    return records


def _node(lab: Lab, env: dict[str, str]) -> HomerServer:
    data = Path(tempfile.mkdtemp(dir=lab.root))
    server = HomerServer(data, data / "homer.log", env)
    lab.servers.append(server)
    return server


async def _prepare(store: str, secret: Path) -> dict[str, list[str]]:
    """Users, rooms and never-expiring tokens in ``store``, through Homer's own API."""
    from homer.config import HomerConfig, LimitsConfig, TokenConfig
    from homer.core.app import Homer
    from homer.identity.passwords import Argon2Params
    from homer.identity.permissions import SYSTEM

    config = HomerConfig(
        data_dir=str(secret.parent),
        store=store,
        tokens=TokenConfig(secret_file=str(secret)),
        limits=LimitsConfig(max_rooms_per_user=1_000_000),
    )
    app = Homer(config, password_params=Argon2Params.cheap())
    await app.start()
    try:
        accounts = app.identity.accounts
        owner = await accounts.create(SYSTEM, "owner", "bench-password")
        await app.rooms.create(owner, room_id="fan", kind="public", name="fan", topic="", meta=None)
        fans = [await accounts.create(SYSTEM, f"f{i}", "bench-password") for i in range(FANS)]
        for start in range(0, FANS, 100):
            await asyncio.gather(*(app.rooms.join(u, "fan") for u in fans[start : start + 100]))
        senders = [await accounts.create(SYSTEM, f"s{i}", "bench-password") for i in range(SENDERS)]
        for i, user in enumerate(senders):
            await app.rooms.create(
                user, room_id=f"p{i}", kind="public", name=f"p{i}", topic="", meta=None
            )
        issue = app.identity.tokens.issue
        return {
            "owner": [issue(owner.token_info(), ttl=None)],
            "fans": [issue(u.token_info(), ttl=None) for u in fans],
            "senders": [issue(u.token_info(), ttl=None) for u in senders],
        }
    finally:
        await app.stop()


@contextlib.contextmanager
def _scratch() -> Iterator[tuple[str, str]]:
    """A database and an exchange name of this run's own, removed afterwards."""
    import aio_pika
    import asyncpg

    name = f"homer_bench_{uuid.uuid4().hex[:12]}"
    exchange = f"homer-bench-{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        try:
            conn = await asyncpg.connect(POSTGRESQL, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            raise RuntimeError(f"PostgreSQL does not answer at {POSTGRESQL}: {exc}") from exc
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def drop_exchange() -> None:
        connection = await aio_pika.connect(AMQP, timeout=10)
        async with connection:
            channel = await connection.channel()
            await channel.exchange_delete(exchange)

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(POSTGRESQL)._replace(path=f"/{name}")), exchange
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        with contextlib.suppress(Exception):
            asyncio.run(drop_exchange())
