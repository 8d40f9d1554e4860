"""A WebSocket opened on a connection that already carried HTTP (a pooled client)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp

from homer.testing.server import replace_config, running_homer


async def test_login_then_websocket_on_one_pooled_connection(tmp_path: Path) -> None:
    def quick(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"heartbeat": 0.5, "heartbeat_timeout": 1.0})

    async with running_homer(tmp_path, configure=quick) as server:
        await server.user("pat")
        connector = aiohttp.TCPConnector(limit=1)  # one connection, reused
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.post(
                server.url + "/api/login", json={"name": "pat", "password": "test-password"}
            ) as response:
                token = (await response.json())["token"]
            ws = await http.ws_connect(server.url + "/ws", autoping=True)
            await ws.send_json({"op": "hello", "rid": 1, "token": token})
            welcome = await ws.receive_json()
            assert welcome["op"] == "reply"
            await ws.send_json({"op": "create", "rid": 2, "room": "pool"})
            async with asyncio.timeout(5):
                while (await ws.receive_json()).get("rid") != 2:
                    pass
            await ws.send_json({"op": "send", "rid": 3, "room": "pool", "cid": "c1", "text": "hi"})
            seen: dict[str, object] = {}
            async with asyncio.timeout(5):
                while "msg" not in seen or 3 not in seen:
                    frame = await ws.receive_json()
                    seen[frame["op"] if frame.get("rid") is None else frame["rid"]] = frame
            # The client answers the server's pings (aiohttp does, while it reads):
            # still open past several heartbeats.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3):
                    while True:
                        await ws.receive()
            await ws.send_json({"op": "ping", "rid": 4})
            async with asyncio.timeout(5):
                while True:
                    frame = await ws.receive_json()
                    if frame.get("rid") == 4:
                        break
            assert frame["op"] == "reply"
            await ws.close()


async def test_an_oversized_http_body_gets_413_json(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        body = b"{" + b" " * (server.app.config.limits.max_frame + 10) + b"}"
        async with http.post(server.url + "/api/login", data=body) as response:
            assert response.status == 413
            assert (await response.json())["code"] == "too_large"
