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
        third = await RawWebSocket.connect("127.0.0.1", port)
        async with asyncio.timeout(5):
            assert await third.close_code() == 4029
        # TCP counts towards the same cap, and says why before it closes.
        assert server.tcp_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", server.tcp_port)
        async with asyncio.timeout(5):
            closing = msgspec.json.decode(await reader.readline())
        assert closing["op"] == "close"
        assert closing["body"]["code"] == 4029
        assert "address" in closing["body"]["reason"]
        writer.close()
        # So do streams: an SSE request over the cap gets 409 before any stream.
        token = await server.token("ann")
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                server.url + "/api/events", headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            assert response.status == 409
            assert (await response.json())["code"] == "conflict"
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
