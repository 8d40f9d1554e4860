"""Send one message and print the server's acknowledgement.

    python say.py NAME ROOM TEXT...
    python say.py NAME @OTHER TEXT...     (a direct message to user OTHER)

The password comes from ``CHAT_PASSWORD`` or a prompt; the server from
``CHAT_URL`` (default ``http://127.0.0.1:8080``).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys

from homer.client import HomerClient


async def main(name: str, room: str, text: str) -> None:
    url = os.environ.get("CHAT_URL", "http://127.0.0.1:8080")
    password = os.environ.get("CHAT_PASSWORD") or getpass.getpass(f"password for {name}: ")
    async with HomerClient(url, name=name, password=password) as client:
        if room.startswith("@"):  # the DM room with that user, created on first use
            room = (await client.dm(room[1:]))["id"]
        else:  # joining a room one is already in changes nothing
            await client.join(room)
        ack = await client.send(room, text)
        print(f"stored in {ack['room']} as #{ack['seq']} (cid {ack['cid']})")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], " ".join(sys.argv[3:])))
