"""When WebSockets are blocked (a proxy that refuses the upgrade), the page falls
back to Server-Sent Events and operations over HTTP, and chats all the same."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from playwright.async_api import expect

from homer.testing.server import TestServer
from tests.browser.helpers import (
    SESSION_LOOP,
    People,
    Shots,
    expect_delivered,
    join_room,
    send,
    sign_in,
)
from tests.server.test_process import free_port

pytestmark = SESSION_LOOP

_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@contextlib.asynccontextmanager
async def refusing_websockets(target: str) -> AsyncIterator[str]:
    """A proxy in front of ``target`` that answers 403 to every WebSocket upgrade and
    passes everything else through, streams included; yields its URL."""
    async with aiohttp.ClientSession(auto_decompress=False) as upstream:

        async def forward(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return web.Response(status=403, text="WebSockets are blocked here")
            # The Host passes through, as a proxy must (docs/topics/security.md): the
            # page's Origin is the proxy's, and the server compares the two.
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
            headers["Host"] = request.host
            async with upstream.request(
                request.method,
                target + request.path_qs,
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as answer:
                out = web.StreamResponse(
                    status=answer.status,
                    headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP},
                )
                await out.prepare(request)
                async for chunk in answer.content.iter_any():
                    await out.write(chunk)
                await out.write_eof()
                return out

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


async def test_without_websockets_the_page_uses_sse_and_http(
    server: TestServer, people: People, shots: Shots
) -> None:
    alice, bob = await people("alice"), await people("bob")
    async with refusing_websockets(server.url) as behind:
        await sign_in(bob, server)  # bob has WebSockets
        await join_room(bob.page, "lobby")
        await alice.page.goto(behind + "/")
        await sign_in(alice, server, page=alice.page, url=behind)
        await join_room(alice.page, "lobby")
        await send(bob.page, "hello over the wall")
        await expect_delivered(alice.page, "hello over the wall", sender="bob")
        await send(alice.page, "answered through POST api/ops")
        await expect_delivered(bob.page, "answered through POST api/ops", sender="alice")
        await expect(alice.page.locator("#member-list")).to_contain_text("bob")
        await shots(alice.page, "over-sse")
        assert alice.errors == []
