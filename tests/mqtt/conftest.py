from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from homer.config import HomerConfig
from homer.testing.server import TestServer, replace_config, running_homer
from homer.testing.transport_conformance import quick_presence
from tests.mqtt.client import MqttClient


def with_mqtt(config: HomerConfig) -> HomerConfig:
    return quick_presence(replace_config(config, server={"mqtt_port": 0, "tcp_port": 0}))


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    async with running_homer(tmp_path, configure=with_mqtt) as running:
        for name in ("alice", "bob", "carol"):
            await running.user(name)
        yield running


@pytest_asyncio.fixture
async def port(server: TestServer) -> int:
    assert server.mqtt_port is not None
    return server.mqtt_port


@pytest_asyncio.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    opened, MqttClient.opened = MqttClient.opened, []
    for client in opened:
        await client.close()
