"""Connections per client address are capped on every transport, with a
documented answer; closing one makes room again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from homer.testing.server import replace_config, running_homer
from tests.server.rawws import RawWebSocket


def capped(config: Any) -> Any:
    return replace_config(config, server={"tcp_port": 0}, limits={"max_connections_per_address": 2})


async def test_the_third_connection_from_one_address_is_turned_away(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=capped) as server:
        port = server.running.port
        first = await RawWebSocket.connect("127.0.0.1", port)
        second = await RawWebSocket.connect("127.0.0.1", port)
        # A third connection to the HTTP port is refused before its request is read,
        # whatever it asks for: an upgrade, a stream, a login.
        for request in (
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",
            b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)  # not even a whole head
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 429 Too Many Requests"), head
                assert await reader.read() == b"too many connections from this address"
            writer.close()
        # TCP counts towards the same cap, and says why before it closes.
        assert server.tcp_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", server.tcp_port)
        async with asyncio.timeout(5):
            closing = msgspec.json.decode(await reader.readline())
        assert closing["op"] == "close"
        assert closing["body"]["code"] == 4029
        assert "address" in closing["body"]["reason"]
        writer.close()
        # A stream on a kept-alive connection that carried a request before the
        # cap was reached gets 409 before any stream.
        token = await server.token("ann")
        await first.close()
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/healthz") as response:  # connects, under the cap
                assert response.status == 200
            held = await RawWebSocket.connect("127.0.0.1", port)  # the cap is reached again
            async with http.get(
                server.url + "/api/events", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                assert response.status == 409
                assert (await response.json())["code"] == "conflict"
            first = held
        # Closing one makes room for the next.
        await first.close()
        async with asyncio.timeout(5):
            while server.app.connections_from("127.0.0.1") > 1:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        fourth = await RawWebSocket.connect("127.0.0.1", port)
        token = await server.token("bob")
        await fourth.send_json({"op": "hello", "rid": 1, "token": token})
        assert (await fourth.reply(1))["body"]["user"]["name"] == "bob"
        await second.close()
        await fourth.close()
