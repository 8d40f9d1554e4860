"""Homer mounted in a Starlette application, on its port and origin.

    uvicorn --factory asgi_app:create_app    (settings from HOMER_* or homer.toml)

The host is a tiny shop with its own pages; Homer answers under ``/chat``:
the web client at ``/chat/``, WebSocket at ``/chat/ws``, the HTTP API at
``/chat/api/...``. One process, one event loop, one port: the shop's handlers
reach Homer's services directly (``GET /status`` counts who is connected;
``POST /orders`` announces an order in the ``orders`` room). With FastAPI it
is the same: ``api.mount("/chat", chat)`` and ``FastAPI(lifespan=...)``.
docs/topics/embedding.md walks through this file.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route

from homer import SYSTEM, HomerConfig, NotFound, asgi_app, load_config
from homer.core.app import Homer


async def open_orders_room(homer: Homer) -> None:
    """The bot's account and the ``orders`` room, made once."""
    try:
        bot = await homer.identity.accounts.get("shopbot")
    except NotFound:
        # A password nobody knows: the bot never logs in, the shop acts for it.
        bot = await homer.identity.accounts.create(SYSTEM, "shopbot", secrets.token_urlsafe(24))
    try:
        await homer.rooms.get("orders")
    except NotFound:
        await homer.rooms.create(
            bot, room_id="orders", kind="public", name="Orders", topic="", meta=None
        )


def create_app(config: HomerConfig | None = None, **options: Any) -> Starlette:
    """The shop, with Homer under ``/chat``. ``options`` go to ``Homer``."""
    homer = Homer(config or load_config(), **options)
    chat = asgi_app(homer)

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse("<h1>The shop</h1><p><a href='/chat/'>Talk to us</a></p>")

    async def status(request: Request) -> JSONResponse:
        return JSONResponse({"connections": len(homer.peers)})

    async def order(request: Request) -> JSONResponse:
        """A new order, announced to the staff in the ``orders`` room by the shop's bot."""
        item = str((await request.json()).get("item", "something"))[:100]
        bot = await homer.identity.accounts.get("shopbot")
        cid = f"order-{secrets.token_hex(8)}"
        ack = await homer.messages.send(bot, "orders", cid, f"New order: {item}")
        return JSONResponse({"seq": ack["seq"]}, status_code=201)

    @contextlib.asynccontextmanager
    async def lifespan(shop: Starlette) -> AsyncIterator[None]:
        async with chat.lifespan(shop):  # Homer starts here and stops last
            await open_orders_room(homer)
            yield

    return Starlette(
        routes=[
            Route("/", home),
            Route("/status", status),
            Route("/orders", order, methods=["POST"]),
            Mount("/chat", app=chat),
        ],
        lifespan=lifespan,
    )
