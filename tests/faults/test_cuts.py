"""Every transport's clients behind a fault-injecting proxy that cuts every
connection every 2 seconds, for a minute, while a room receives 50 messages a
second: each client's view ends with every message once, in order.

All transports run at once against one server, so the minute is spent once.
``HOMER_FAULT_SECONDS`` shortens it for a quick local run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from homer.client import HomerClient
from homer.testing.faults import FaultProxy
from homer.testing.server import TestServer, replace_config, running_homer

SECONDS = float(os.environ.get("HOMER_FAULT_SECONDS", "60"))
RATE = 50  # messages a second
CUT_EVERY = 2.0

#: name -> (which listener the proxy fronts, how the client reaches it through the proxy)
Transports = dict[str, tuple[str, Callable[[FaultProxy], dict[str, Any]]]]
TRANSPORTS: Transports = {
    "ws-json": ("http", lambda p: {"url": f"ws://127.0.0.1:{p.port}/ws", "codec": "json"}),
    "ws-msgpack": ("http", lambda p: {"url": f"ws://127.0.0.1:{p.port}/ws", "codec": "msgpack"}),
    "tcp-json-lines": ("tcp", lambda p: {"url": f"tcp://127.0.0.1:{p.port}", "framing": "lines"}),
    "tcp-msgpack-length": (
        "tcp",
        lambda p: {"url": f"tcp://127.0.0.1:{p.port}", "codec": "msgpack", "framing": "length"},
    ),
    "sse": ("http", lambda p: {"url": f"http://127.0.0.1:{p.port}", "transport": "sse"}),
    "longpoll": ("http", lambda p: {"url": f"http://127.0.0.1:{p.port}", "transport": "longpoll"}),
}


async def collect(client: HomerClient, room: str, seen: list[int]) -> None:
    while True:
        event = await client.events.get()
        if event.op == "msg" and event.room == room and event.seq is not None:
            seen.append(event.seq)


async def test_clients_cut_every_two_seconds_miss_nothing_and_repeat_nothing(
    tmp_path: Path,
) -> None:
    def with_tcp(config: Any) -> Any:
        return replace_config(config, server={"tcp_port": 0})

    async with running_homer(tmp_path, configure=with_tcp) as server:
        await run(server)


async def run(server: TestServer) -> None:
    sender = await server.client("sender")
    await sender.create("lobby")
    proxies: dict[str, FaultProxy] = {}
    clients: dict[str, HomerClient] = {}
    seen: dict[str, list[int]] = {}
    readers: list[asyncio.Task[None]] = []
    try:
        for name, (listener, options) in TRANSPORTS.items():
            port = server.tcp_port if listener == "tcp" else int(server.url.rsplit(":", 1)[1])
            assert port is not None
            proxy = proxies[name] = FaultProxy("127.0.0.1", port)
            await proxy.start()
            settings = options(proxy)
            client = HomerClient(
                settings.pop("url"),
                token=await server.token(f"u-{name}"),
                max_backoff=0.2,
                **settings,
            )
            clients[name] = client
            await client.connect()
            await client.join("lobby")
            seen[name] = []
            readers.append(asyncio.create_task(collect(client, "lobby", seen[name])))

        async def cutter() -> None:
            while True:
                await asyncio.sleep(CUT_EVERY)
                for proxy in proxies.values():
                    proxy.cut()

        cutting = asyncio.create_task(cutter())
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        last = 0
        while loop.time() - start < SECONDS:
            ack = await sender.send("lobby", f"m{sent}")
            last = ack["seq"]
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / RATE - loop.time()))
        cutting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cutting
        first = last - sent + 1
        deadline = loop.time() + 30
        while loop.time() < deadline and any(  # noqa: ASYNC110
            not views or views[-1] < last for views in seen.values()
        ):
            await asyncio.sleep(0.2)
        for name, views in seen.items():
            mine = [seq for seq in views if seq >= first]
            assert len(mine) == len(set(mine)), f"{name}: duplicates"
            assert mine == list(range(first, last + 1)), (
                f"{name}: {len(mine)} of {sent} messages; missing "
                f"{sorted(set(range(first, last + 1)) - set(mine))[:10]}"
            )
            assert proxies[name].cuts >= SECONDS // CUT_EVERY - 1, name
            if name != "longpoll":  # each poll is its own request: a cut fails one poll
                assert clients[name].reconnects >= 1, name
    finally:
        for task in readers:
            task.cancel()
        for client in clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        for proxy in proxies.values():
            await proxy.stop()
