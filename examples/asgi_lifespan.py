"""Homer beside an ASGI application (FastAPI, Starlette, Django...), in its process.

    uvicorn --factory asgi_lifespan:create_app    (settings from HOMER_* or homer.toml)

An ASGI server owns its sockets and hands each message to the application
through an ``await``: a fan-out would cost an await per recipient. So Homer
keeps its own listener, started and stopped by the ASGI application's
lifespan, in the same process and event loop: the application's handlers
reach Homer's services directly, and a reverse proxy (or the page's own
links) sends ``/chat/`` traffic to Homer's port. docs/topics/embedding.md
explains the choice.

This file is a bare ASGI application so that it needs no framework; with
FastAPI, put the two ``with_homer`` steps in its ``lifespan`` function.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from homer import load_config
from homer.core.app import Homer
from homer.node.runner import RunningServer, start_server

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class WithHomer:
    """An ASGI application whose lifespan runs a Homer node on its own port."""

    def __init__(self, homer: Homer, *, host: str | None = None, port: int | None = None) -> None:
        self.homer = homer
        self.host, self.port = host, port
        self.running: RunningServer | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.status(send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.running = await start_server(self.homer, host=self.host, port=self.port)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.running is not None:
                    await self.running.stop()  # finishes writes, says 1001 to every session
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def status(self, send: Send) -> None:
        """The application's own page: here, who is connected to Homer."""
        body = json.dumps({"connections": len(self.homer.peers)}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def create_app() -> WithHomer:
    """The application, as ``uvicorn --factory`` builds it."""
    return WithHomer(Homer(load_config()))
