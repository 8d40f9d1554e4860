"""A Homer node that a test stops and starts again, on the same port and data."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from homer.client import HomerClient
from homer.config import HomerConfig
from homer.core.app import Homer
from homer.identity.passwords import Argon2Params
from homer.node.runner import RunningServer, start_server
from homer.testing.server import PASSWORD, create_user, replace_config
from tests.server.test_process import free_port

__all__ = ["Node", "node"]


class Node:
    """A Homer node on a fixed port and data directory, stopped and started again."""

    def __init__(self, data_dir: Path, **limits: Any) -> None:
        self.data_dir = data_dir
        #: Settings of the ``limits`` section (a rate limit, say).
        self.limits = limits
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.running: RunningServer | None = None
        #: While the node is down: its port, bound but not listening, so a client's
        #: connection is refused as with no server, and no other test's server
        #: (the suite runs in parallel) takes the port and answers in its place.
        self._held: socket.socket | None = None

    async def start(self, *users: str) -> Homer:
        """Start the node (again), with these users (made if they are new)."""
        if self._held is not None:
            self._held.close()
            self._held = None
        config = HomerConfig(data_dir=str(self.data_dir))
        if self.limits:
            config = replace_config(config, limits=self.limits)
        app = Homer(config, password_params=Argon2Params.cheap())
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
            held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            held.bind(("127.0.0.1", self.port))
            self._held = held

    def release(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None


@contextlib.asynccontextmanager
async def node(tmp_path: Path, **limits: Any) -> AsyncIterator[Node]:
    one = Node(tmp_path / "server", **limits)
    try:
        yield one
    finally:
        await one.stop()
        one.release()
