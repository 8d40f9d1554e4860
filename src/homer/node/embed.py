"""Homer inside an application that already runs an aiohttp server.

:func:`http_app` gives Homer's HTTP side (the API, WebSocket at ``ws``,
Server-Sent Events, long-poll, the web client and the application's own
routes) as an aiohttp application to mount under a path of the host's::

    async def create_app() -> web.Application:
        shop = web.Application()
        shop.add_subapp("/chat/", await http_app(Homer(load_config())))
        return shop

The mounted application starts Homer when the host starts and stops it, the
durable writes finished, when the host shuts down. What ``homer serve`` adds
on top is not there: the lean WebSocket path and the handshake timeout of
its own listener (WebSocket runs through aiohttp, a task per connection),
the raw TCP listener (start one with :func:`homer.node.runner.start_server`
if it is wanted) and the signal handling, which is the host's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from homer.core.app import Homer
from homer.transports.site import build_http_app, load_web_client

__all__ = ["http_app"]


async def http_app(app: Homer) -> web.Application:
    """Homer's HTTP side as an aiohttp application, started and stopped with the
    application it is mounted in (``host.add_subapp(prefix, ...)``)."""
    page = await asyncio.to_thread(load_web_client) if app.config.server.web_client else None
    http = build_http_app(app, page)

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        await app.start()
        yield
        await app.stop()

    async def going_away(_: web.Application) -> None:
        # Before aiohttp waits for its handlers: open WebSockets end now, with 1001.
        await app.stop()

    http.cleanup_ctx.append(lifetime)
    http.on_shutdown.append(going_away)
    return http
