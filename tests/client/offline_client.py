"""A client process with a state directory, for the tests that kill one with SIGKILL.

    python -m tests.client.offline_client URL NAME STATE_DIR post ROOM FIRST LAST
    python -m tests.client.offline_client URL NAME STATE_DIR drain
    python -m tests.client.offline_client URL NAME STATE_DIR listen
    python -m tests.client.offline_client URL NAME STATE_DIR counts

``post`` puts messages ``m<FIRST>`` .. ``m<LAST>`` in the outbox (cid ``m<i>``, so
that posting one again after a kill is a repeat the server recognises) and prints
``queued <i>`` as each is on disk; ``drain`` waits until the outbox is empty;
``listen`` prints ``got <room> <seq>`` for each message as it is handed on (so
after it is kept); ``counts`` prints the local unread counts and the server's, as
JSON, once the welcome is taken in. Each prints ``ready`` once started.
"""

from __future__ import annotations

import asyncio
import json
import sys

from homer.client import HomerClient
from homer.testing.server import PASSWORD


async def main(url: str, name: str, state_dir: str, mode: str, *args: str) -> None:
    client = HomerClient(url, name=name, password=PASSWORD, state_dir=state_dir, max_backoff=0.5)
    welcome = await client.start()
    print("ready", flush=True)
    keeper = client.keeper
    assert keeper is not None
    if mode == "post":
        room, first, last = args[0], int(args[1]), int(args[2])
        for i in range(first, last + 1):
            await client.post(room, f"m{i}", cid=f"m{i}")
            print(f"queued {i}", flush=True)
        await asyncio.sleep(3600)
    elif mode == "drain":
        await keeper.drained()
        print("drained", flush=True)
    elif mode == "listen":
        async for event in client:
            if event.op == "msg":
                print(f"got {event.room} {event.seq}", flush=True)
    elif mode == "counts":
        if not welcome:
            raise SystemExit("counts: the server did not answer")
        # Every room caught up (the resume's messages are in; each is kept before
        # it is handed on), then the welcome's own work done.
        while any(client.positions[r["id"]].seq < r["last_seq"] for r in welcome["rooms"]):
            await client.next_event(timeout=60)
        await keeper.settled()
        server = {r["id"]: r["unread"] for r in welcome["rooms"] if r["unread"]}
        print(json.dumps({"local": await client.unread_counts(), "server": server}), flush=True)
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
