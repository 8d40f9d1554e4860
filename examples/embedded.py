"""Homer mounted in an aiohttp application that already exists.

    python embedded.py [homer.toml]

The host here is a tiny shop with its own pages; Homer answers under
``/chat/``: the web client at ``/chat/``, WebSocket at ``/chat/ws``, the HTTP
API at ``/chat/api/...``. One process, one event loop: the shop's handlers
reach Homer's services directly (``GET /status`` counts who is connected;
``POST /orders`` announces an order in the ``orders`` room).
docs/topics/embedding.md walks through this file.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from homer import SYSTEM, HomerConfig, NotFound, load_config
from homer.core.app import Homer
from homer.node.embed import http_app
from homer.node.logs import configure_logging

HOMER: web.AppKey[Homer] = web.AppKey("homer", Homer)


async def home(request: web.Request) -> web.Response:
    return web.Response(
        text="<h1>The shop</h1><p><a href='/chat/'>Talk to us</a></p>", content_type="text/html"
    )


async def status(request: web.Request) -> web.Response:
    homer = request.app[HOMER]
    return web.json_response({"connections": len(homer.peers)})


async def order(request: web.Request) -> web.Response:
    """A new order, announced to the staff in the ``orders`` room by the shop's bot."""
    homer = request.app[HOMER]
    item = str((await request.json()).get("item", "something"))[:100]
    bot = await homer.identity.accounts.get("shopbot")
    ack = await homer.messages.send(bot, "orders", f"order-{id(request)}", f"New order: {item}")
    return web.json_response({"seq": ack["seq"]}, status=201)


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


async def create_app(config: HomerConfig, **options: Any) -> web.Application:
    """The shop, with Homer under ``/chat/``. ``options`` go to ``Homer``."""
    homer = Homer(config, **options)
    shop = web.Application()
    shop[HOMER] = homer
    shop.router.add_get("/", home)
    shop.router.add_get("/status", status)
    shop.router.add_post("/orders", order)
    shop.add_subapp("/chat/", await http_app(homer))

    async def ready(_: web.Application) -> None:  # runs after Homer has started
        await open_orders_room(homer)

    shop.on_startup.append(ready)
    return shop


def main() -> None:
    config = load_config(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    configure_logging(config.server.log_format, config.server.log_level)
    web.run_app(create_app(config), host=config.server.host, port=config.server.port)


if __name__ == "__main__":
    main()
