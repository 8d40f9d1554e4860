"""An in-process Homer server and connected clients, for tests of Homer and of
applications built on it::

    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        bob = await server.client("bob")
        await alice.create("lobby")
        await bob.join("lobby")
        await alice.send("lobby", "hi")
        event = await bob.next_event("msg")

Real sockets on 127.0.0.1, a free port, cheap password hashing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from homer.client import HomerClient
from homer.config import HomerConfig
from homer.core.app import Homer
from homer.errors import Conflict
from homer.identity.passwords import Argon2Params
from homer.identity.permissions import SYSTEM
from homer.node.runner import RunningServer, start_server

__all__ = ["TestServer", "create_user", "issue_token", "running_homer"]

PASSWORD = "test-password"


@dataclass
class TestServer:
    running: RunningServer
    clients: list[HomerClient] = field(default_factory=list)

    __test__ = False  # not a test class, whatever pytest thinks of the name

    @property
    def app(self) -> Homer:
        return self.running.app

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def tcp_port(self) -> int | None:
        """The raw TCP port, when ``server.tcp_port`` was configured (0: a free one)."""
        return self.running.tcp_port

    @property
    def irc_port(self) -> int | None:
        """The IRC port, when ``server.irc_port`` was configured (0: a free one)."""
        return self.running.irc_port

    @property
    def mqtt_port(self) -> int | None:
        """The MQTT port, when ``server.mqtt_port`` was configured (0: a free one)."""
        return self.running.mqtt_port

    async def user(self, name: str, *, group: str | None = None, password: str = PASSWORD) -> Any:
        """Create a user (or return the existing one)."""
        return await create_user(self.app, name, group=group, password=password)

    async def token(self, name: str, *, group: str | None = None, **issue: Any) -> str:
        return await issue_token(self.app, name, group=group, **issue)

    async def client(
        self,
        name: str,
        *,
        group: str | None = None,
        connect: bool = True,
        login: bool = False,
        **options: Any,
    ) -> HomerClient:
        """A client for ``name`` (created if needed), connected unless told not.

        It holds a token issued directly; ``login=True`` makes it log in over HTTP
        with the name and password instead (as an application's users do).
        """
        if login:
            await self.user(name, group=group)
            client = HomerClient(self.url, name=name, password=PASSWORD, **options)
        else:
            client = HomerClient(self.url, token=await self.token(name, group=group), **options)
        self.clients.append(client)
        if connect:
            await client.connect()
        return client


async def create_user(
    app: Homer, name: str, *, group: str | None = None, password: str = PASSWORD
) -> Any:
    """Create a user of ``app`` (or return the existing one)."""
    accounts = app.identity.accounts
    try:
        return await accounts.create(SYSTEM, name, password, group=group)
    except Conflict:
        return await accounts.get(name)


async def issue_token(app: Homer, name: str, *, group: str | None = None, **issue: Any) -> str:
    """A token for ``name`` (created if needed); ``issue`` goes to the token manager."""
    user = await create_user(app, name, group=group)
    return app.identity.tokens.issue(user.token_info(), **issue)


@contextlib.asynccontextmanager
async def running_homer(
    data_dir: Path,
    *,
    configure: Callable[[HomerConfig], HomerConfig] | None = None,
    app: Homer | None = None,
    port: int = 0,
    **app_options: Any,
) -> AsyncIterator[TestServer]:
    """Run a Homer node on 127.0.0.1 until the block ends: on a free port, or on
    ``port`` (to start a server again where a client left the last one)."""
    if app is None:
        config = HomerConfig(data_dir=str(data_dir))
        if configure is not None:
            config = configure(config)
        app_options.setdefault("password_params", Argon2Params.cheap())
        app = Homer(config, **app_options)
    running = await start_server(app, host="127.0.0.1", port=port)
    server = TestServer(running)
    try:
        yield server
    finally:
        for client in server.clients:
            with contextlib.suppress(Exception):
                await client.close()
        await running.stop()


def replace_config(config: HomerConfig, **sections: dict[str, Any]) -> HomerConfig:
    """A copy of ``config`` with some settings of some sections changed."""
    changes = {
        name: msgspec.structs.replace(getattr(config, name), **values)
        for name, values in sections.items()
    }
    return msgspec.structs.replace(config, **changes)
