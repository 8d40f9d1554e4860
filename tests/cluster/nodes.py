"""Several ``homer serve`` processes sharing one PostgreSQL store and one RabbitMQ
exchange: a cluster, as an operator would run it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from homer.client import HomerClient
from tests.server.test_process import CHEAP, free_port, wait_until_listening

PASSWORD = "a-good-password"


@dataclass
class Node:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log: Path
    #: Where IRC clients reach the node.
    irc_port: int
    #: Where MQTT clients reach the node.
    mqtt_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """kill -9: no goodbye, no drain."""
        if self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)

    async def metrics(self) -> dict[str, float]:
        async with aiohttp.ClientSession() as http, http.get(self.url + "/metrics") as response:
            text = await response.text()
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                found[key] = float(value)
        return found


@dataclass
class Cluster:
    root: Path
    store: str
    broker: str
    exchange: str
    nodes: list[Node] = field(default_factory=list)
    #: More environment for every node (settings of a test's own).
    more: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HOMER_")}
        return {
            **clean,
            **CHEAP,
            "HOMER_STORE": self.store,
            "HOMER_BROKER": self.broker,
            "HOMER_BROKER_EXCHANGE": self.exchange,
            # One signing secret for every node: a token from one is good on all.
            "HOMER_TOKENS_SECRET_FILE": str(self.root / "token-secret.key"),
            "HOMER_LIMITS_REORDER_WAIT": "0.1",
            # A resume chain on a loaded machine may fall more than the default 1,000
            # messages behind (then the answer is "too_far", tested on one node):
            # here every resume must be able to replay.
            "HOMER_LIMITS_RESUME_LIMIT": "100000",
            **self.more,
        }

    async def start_node(self, name: str) -> Node:
        data_dir = self.root / name
        data_dir.mkdir(parents=True, exist_ok=True)
        port, irc_port, mqtt_port = free_port(), free_port(), free_port()
        log = data_dir / "serve.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "homer", "serve", "--port", str(port), "--data-dir", str(data_dir)),
                *("--irc-port", str(irc_port), "--mqtt-port", str(mqtt_port)),
                env=self.env(),
                stdout=out,
                stderr=out,
            )
        node = Node(name, port, process, log, irc_port, mqtt_port)
        self.nodes.append(node)
        try:
            await wait_until_listening(process, port)
        except RuntimeError as exc:
            raise RuntimeError(f"{name}: {exc}: {log.read_text()[-2000:]}") from None
        return node

    async def stop(self) -> None:
        for node in self.nodes:
            if node.process.returncode is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(node.process.wait(), 15)
            if node.process.returncode is None:
                node.kill()
                await node.process.wait()

    async def user(self, name: str, *urls: str, **options: object) -> HomerClient:
        """Register ``name`` (through the first URL) and connect a client to ``urls``."""
        client = HomerClient(list(urls), name=name, password=PASSWORD, **options)  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            await client.register(name, PASSWORD)
        await client.connect()
        return client


@contextlib.asynccontextmanager
async def cluster(
    root: Path, store: str, broker: str, exchange: str, size: int, **more: str
) -> AsyncIterator[Cluster]:
    """``size`` nodes, started together on a fresh database, as an operator's
    rollout would: they race to migrate it and create the configured groups.
    ``more`` is more environment for every node."""
    running = Cluster(root, store, broker, exchange, more=more)
    try:
        await asyncio.gather(*(running.start_node(f"node{i + 1}") for i in range(size)))
        running.nodes.sort(key=lambda node: node.name)
        yield running
    finally:
        await running.stop()
