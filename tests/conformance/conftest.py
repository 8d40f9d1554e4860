"""The SDK's conformance kit: one set of scenarios, run over every transport and
codec the client speaks, against a real server on 127.0.0.1.

Each test that takes the ``kit`` fixture runs once per :data:`COMBINATIONS`
entry; ``kit.client(name)`` connects a client for ``name`` over that
combination (``over=`` picks another, for a member on a different transport).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from homer.client import ClientCodec, FramingName, HomerClient, TransportName
from homer.config import HomerConfig
from homer.protocol.envelope import Envelope
from homer.testing.server import PASSWORD, TestServer, replace_config, running_homer


@dataclass(frozen=True)
class Combination:
    """A transport, a codec and (for raw TCP) a framing."""

    id: str
    transport: TransportName
    codec: ClientCodec = "json"
    framing: FramingName | None = None


COMBINATIONS = (
    Combination("ws-json", "websocket", "json"),
    Combination("ws-msgpack", "websocket", "msgpack"),
    Combination("tcp-json-lines", "tcp", "json", "lines"),
    Combination("tcp-json-length", "tcp", "json", "length"),
    Combination("tcp-msgpack-length", "tcp", "msgpack", "length"),
    Combination("sse-json", "sse", "json"),
    Combination("sse-msgpack", "sse", "msgpack"),
    Combination("longpoll-json", "longpoll", "json"),
    Combination("longpoll-msgpack", "longpoll", "msgpack"),
)
BY_ID = {combination.id: combination for combination in COMBINATIONS}

#: For each transport, another one to put a second member on.
OTHER = {
    "websocket": BY_ID["longpoll-json"],
    "tcp": BY_ID["sse-json"],
    "sse": BY_ID["tcp-msgpack-length"],
    "longpoll": BY_ID["ws-json"],
}


def configure(config: HomerConfig) -> HomerConfig:
    return replace_config(
        config,
        server={"tcp_port": 0},
        # Presence changes announced quickly, so that the scenarios stay short.
        limits={"presence_delay": 0.05},
    )


@dataclass
class Kit:
    server: TestServer
    #: The combination under test.
    over: Combination

    @property
    def other(self) -> Combination:
        """A combination on another transport than :attr:`over`."""
        return OTHER[self.over.transport]

    def url(self, over: Combination) -> str:
        """The URL that picks ``over``'s transport by its scheme, where one does."""
        host = self.server.running.host
        if over.transport == "websocket":
            return f"ws://{host}:{self.server.running.port}"
        if over.transport == "tcp":
            return f"tcp://{host}:{self.server.tcp_port}"
        return self.server.url

    async def client(
        self,
        name: str,
        *,
        over: Combination | None = None,
        group: str | None = None,
        token: str | None = None,
        login: bool = False,
        connect: bool = True,
        **options: Any,
    ) -> HomerClient:
        """A client for ``name`` (created if needed) over ``over`` (by default the
        combination under test), connected unless told not."""
        over = over or self.over
        options.setdefault("max_backoff", 0.2)
        options["codec"] = over.codec
        if over.transport in ("sse", "longpoll"):
            options["transport"] = over.transport
        if over.transport == "tcp":
            options["framing"] = over.framing
            options["http_url"] = self.server.url
        if login:
            await self.server.user(name, group=group)
            options.update(name=name, password=PASSWORD)
        else:
            options["token"] = token or await self.server.token(name, group=group)
        client = HomerClient(self.url(over), **options)
        self.server.clients.append(client)
        if connect:
            await client.connect()
        return client


@pytest_asyncio.fixture(params=COMBINATIONS, ids=[c.id for c in COMBINATIONS])
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    async with running_homer(tmp_path, configure=configure) as server:
        yield Kit(server, request.param)


# -- helpers for the scenarios ---------------------------------------------------------


async def next_message(client: HomerClient, room: str, *, timeout: float = 5.0) -> Envelope:  # noqa: ASYNC109
    """The next message someone wrote in ``room`` (membership records skipped)."""
    return await next_matching(
        client, lambda e: e.op == "msg" and e.room == room and e.kind == "msg", timeout
    )


async def next_matching(
    client: HomerClient,
    wanted: Callable[[Envelope], bool],
    timeout: float = 5.0,  # noqa: ASYNC109
) -> Envelope:
    """The next event ``wanted`` accepts, the others skipped; ``TimeoutError`` after
    ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            event = await client.events.get()
            if wanted(event):
                return event


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until ``condition()`` holds (polled), or ``TimeoutError``."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - another task changes what it reads
            await asyncio.sleep(0.01)
