"""Print what happens in every room a user is in, as it happens.

    python listen.py NAME [ROOM]

Joins ROOM (default ``lobby``), creating it if it does not exist, prints its
latest messages (the first time), then every event as it arrives. The password comes from
``CHAT_PASSWORD`` or a prompt; the server from ``CHAT_URL`` (default
``http://127.0.0.1:8080``).

Where the listener stopped in each room is saved in ``.NAME-positions.json``
as events arrive and when it exits; the next run hands it to the server, which
replays exactly what was missed.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
import time
from pathlib import Path

from homer.client import ClientError, HomerClient, Position
from homer.protocol.envelope import Envelope


def show(event: Envelope) -> None:
    """One line per event worth showing."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts)) if event.ts else "--:--:--"
    body = event.body or {}
    if event.op == "msg" and event.kind == "msg":
        print(f"{stamp} [{event.room} #{event.seq}] {event.sender}: {body.get('text', '')}")
    elif event.op == "msg":  # join, leave, kick, ban, invite, topic
        detail = f" {body}" if body else ""
        print(f"{stamp} [{event.room} #{event.seq}] * {event.sender} {event.kind}{detail}")
    elif event.op == "joined":
        print(f"* you are now in {event.room}")
    elif event.op == "resumed":
        print(f"* resumed {event.room}: {body}")
    elif event.op in ("reconnected", "disconnected"):
        print(f"* {event.op}")


def save(path: Path, positions: dict[str, Position]) -> None:
    """Where we are in each room, replaced whole (a crash leaves the old file)."""
    where = {room: {"epoch": p.epoch, "seq": p.seq} for room, p in positions.items()}
    partial = path.with_name(path.name + ".new")
    partial.write_text(json.dumps(where))
    os.replace(partial, path)


async def main(name: str, room: str, positions: dict[str, Position], saved: Path) -> None:
    url = os.environ.get("CHAT_URL", "http://127.0.0.1:8080")
    password = os.environ.get("CHAT_PASSWORD") or getpass.getpass(f"password for {name}: ")
    client = HomerClient(url, name=name, password=password)
    # Where we stopped last time: the hello asks the server to resume from there.
    # The client keeps this dict up to date as events arrive.
    client.positions = positions
    first_run = not positions
    async with client:
        try:
            await client.join(room)
        except ClientError as exc:
            if exc.wire_code != "not_found":
                raise
            await client.create(room)
        shown = 0  # the last seq printed from history
        if first_run:
            for message in await client.history(room, limit=10):
                show(message)
                shown = message.seq or shown
        async for event in client:
            if event.op == "msg" and event.room == room and (event.seq or 0) <= shown:
                continue  # arrived live while we read the history: printed already
            show(event)
            save(saved, positions)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    saved = Path(f".{sys.argv[1]}-positions.json")
    stored = json.loads(saved.read_text()) if saved.exists() else {}
    positions = {r: Position(p["epoch"], p["seq"]) for r, p in stored.items()}
    try:
        room = sys.argv[2] if len(sys.argv) == 3 else "lobby"
        asyncio.run(main(sys.argv[1], room, positions, saved))
    except KeyboardInterrupt:
        pass
    finally:
        save(saved, positions)
