"""A Homer node that a test stops and starts again, on the same port and data."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from homer.client import HomerClient
from homer.config import HomerConfig
from homer.core.app import Homer
from homer.identity.passwords import Argon2Params
from homer.node.runner import RunningServer, start_server
from homer.testing.server import PASSWORD, create_user
from tests.server.test_process import free_port

__all__ = ["Node", "node"]


class Node:
    """A Homer node on a fixed port and data directory, stopped and started again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.running: RunningServer | None = None

    async def start(self, *users: str) -> Homer:
        """Start the node (again), with these users (made if they are new)."""
        app = Homer(HomerConfig(data_dir=str(self.data_dir)), password_params=Argon2Params.cheap())
        self.running = await start_server(app, host="127.0.0.1", port=self.port)
        for name in users:
            await create_user(app, name)
        return app

    def client(self, name: str, **options: Any) -> HomerClient:
        return HomerClient(self.url, name=name, password=PASSWORD, **options)

    async def stop(self) -> None:
        if self.running is not None:
            await self.running.stop()
            self.running = None


@contextlib.asynccontextmanager
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    one = Node(tmp_path / "server")
    try:
        yield one
    finally:
        await one.stop()
