"""A Homer server with one custom operation, a moderation hook and an HTTP route.

    python dicebot.py [homer.toml]

- ``roll``: a new operation that rolls dice; it needs the new permission
  ``dice.roll``, which the ``users`` group is given at start-up;
- a before-send hook that refuses messages with a blocked word and turns
  shouting into lower case;
- ``GET /api/dice/stats``: how many rolls this node has answered.

Everything else (rooms, history, the web client, the HTTP API) is Homer's own.
docs/tutorial/bot.md walks through this file.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from homer import SYSTEM, HomerConfig, load_config
from homer.core.app import Context, Homer
from homer.errors import Forbidden, InvalidInput
from homer.messaging.messages import Draft
from homer.node.logs import configure_logging
from homer.node.runner import serve

#: Words a message may not contain (compared in lower case).
BLOCKED = frozenset({"spam", "scam"})


class Roll(msgspec.Struct, forbid_unknown_fields=True):
    """The parameters of ``roll``: ``{"op": "roll", "dice": 2, "sides": 6}``."""

    dice: int = 1
    sides: int = 6


def build_app(config: HomerConfig, **options: Any) -> Homer:
    """The application: Homer plus what this file adds. ``options`` go to ``Homer``."""
    app = Homer(config, permissions={"dice.roll": "roll dice with the roll operation"}, **options)
    stats = {"rolls": 0}

    @app.on("roll", requires="dice.roll")
    async def roll(ctx: Context, params: Roll) -> dict[str, Any]:
        if not 1 <= params.dice <= 20:
            raise InvalidInput("dice must be 1-20")
        if not 2 <= params.sides <= 1000:
            raise InvalidInput("sides must be 2-1000")
        values = [random.randint(1, params.sides) for _ in range(params.dice)]
        stats["rolls"] += 1
        return {"user": ctx.user.name, "values": values, "total": sum(values)}

    @app.before_send
    async def moderate(draft: Draft) -> None:
        words = set(draft.text.lower().split())
        if words & BLOCKED:
            raise Forbidden("that message contains a blocked word")
        if len(draft.text) > 3 and draft.text.isupper():
            draft.text = draft.text.lower()

    @app.route("GET", "/api/dice/stats")
    async def dice_stats(request: web.Request) -> web.Response:
        return web.json_response(stats)

    return app


async def let_users_roll(app: Homer) -> None:
    """Give the ``users`` group ``dice.roll`` unless it has it (needs a started app)."""
    users = await app.identity.groups.get("users")
    if "dice.roll" not in users.permissions:
        await app.identity.groups.grant(SYSTEM, "users", "dice.roll")


async def run(app: Homer) -> None:
    await app.start()  # serve() would start it too; we need the store first
    await let_users_roll(app)
    await serve(app)  # until SIGINT or SIGTERM, then a clean shutdown


def main() -> None:
    config = load_config(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    configure_logging(config.server.log_format, config.server.log_level)
    app = build_app(config)
    if config.server.uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(run(app))
            return
    asyncio.run(run(app))


if __name__ == "__main__":
    main()
