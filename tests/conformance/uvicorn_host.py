"""An ASGI application served by uvicorn on 127.0.0.1 and a free port, in the
test's event loop, for as long as a block runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn


class _InTest(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test runner keeps its own signal handlers


@contextlib.asynccontextmanager
async def serving(asgi: Any, **options: Any) -> AsyncIterator[str]:
    """Serve ``asgi`` (its lifespan included) and give its base URL."""
    options.setdefault("log_level", "warning")
    server = _InTest(uvicorn.Config(asgi, host="127.0.0.1", port=0, lifespan="on", **options))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():  # failed to start: say why
                    await task
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
