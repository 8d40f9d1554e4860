"""A bot built on the Python client SDK: it answers ``!echo`` and ``!roll``.

    python echobot.py NAME [ROOM...]

Logs in as NAME (password from ``BOT_PASSWORD`` or a prompt) on the server at
``BOT_URL`` (default ``http://127.0.0.1:8080``), joins each ROOM (default
``lobby``; created if missing) and answers, in the room the command came from:

- ``!echo TEXT`` with TEXT;
- ``!roll`` or ``!roll NdM`` with the result of the server's ``roll``
  operation (see dicebot.py), rolled as the bot.

It reconnects and resumes by itself if the connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import sys

from homer.client import ClientError, HomerClient
from homer.protocol.envelope import Envelope

DICE = re.compile(r"^(\d{1,2})d(\d{1,4})$")


class EchoBot:
    def __init__(self, client: HomerClient) -> None:
        self.client = client

    async def answer(self, event: Envelope) -> str | None:
        """The reply to one event, or ``None`` when there is nothing to say."""
        if event.op != "msg" or event.kind != "msg":
            return None  # membership changes, presence, typing, ...
        if event.uid == self.client.welcome["user"]["id"]:
            return None  # never answer oneself
        text = str((event.body or {}).get("text", "")).strip()
        command, _, rest = text.partition(" ")
        if command == "!echo":
            return rest.strip() or "(nothing to echo)"
        if command == "!roll":
            found = DICE.match(rest.strip() or "1d6")
            if found is None:
                return "usage: !roll NdM, for example !roll 2d6"
            dice, sides = int(found[1]), int(found[2])
            try:
                result = await self.client.request("roll", dice=dice, sides=sides)
            except ClientError as exc:
                return f"cannot roll: {exc.message}"
            values = " + ".join(str(v) for v in result["values"])
            return f"{event.sender} rolled {dice}d{sides}: {values} = {result['total']}"
        return None

    async def handle(self, event: Envelope) -> str | None:
        """Answer one event in its room; returns what was said."""
        reply = await self.answer(event)
        if reply is not None and event.room is not None:
            await self.client.send(event.room, reply)
        return reply

    async def run(self) -> None:
        async for event in self.client:
            await self.handle(event)


async def main(name: str, rooms: list[str]) -> None:
    url = os.environ.get("BOT_URL", "http://127.0.0.1:8080")
    password = os.environ.get("BOT_PASSWORD") or getpass.getpass(f"password for {name}: ")
    async with HomerClient(url, name=name, password=password) as client:
        for room in rooms:
            try:
                await client.join(room)
            except ClientError as exc:
                if exc.wire_code != "not_found":
                    raise
                await client.create(room)
        print(f"{name} is listening in {', '.join(rooms)}", file=sys.stderr)
        await EchoBot(client).run()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(sys.argv[1], sys.argv[2:] or ["lobby"]))
