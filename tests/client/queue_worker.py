"""A process that uses a queue file, for the tests that need a second process or
one to kill. ``python queue_worker.py MODE PATH QUEUE ...``; it says what it has
done on stdout, one line each, flushed.

- ``push PATH QUEUE DURABLE``: pushes item 0, 1, 2, ... forever (``item(i)``),
  printing ``i`` once each push has returned;
- ``take PATH QUEUE``: consumes one item, prints its id, and waits to be killed;
- ``work PATH QUEUE TAG COUNT``: prints ``ready``, waits for a line on stdin,
  then pushes COUNT items tagged TAG while another task consumes and acks,
  and drains the queue once its pushes are done; prints the acked items as a
  JSON list last.
"""

from __future__ import annotations

import asyncio
import json
import sys

from homer.client.queues import AsyncQueueFile


def item(index: int) -> bytes:
    """Item ``index``: its number and a body long enough to span pages (an item
    half written would not match)."""
    head = f"{index:08d}:".encode()
    return head + bytes((index + k) % 251 for k in range(3000 + index % 5000))


async def push(path: str, queue: str, durable: bool) -> None:
    async with AsyncQueueFile(path, durable=durable) as queues:
        index = 0
        while True:
            await queues.push(queue, item(index))
            print(index, flush=True)
            index += 1


async def take(path: str, queue: str) -> None:
    async with AsyncQueueFile(path) as queues:
        taken = await queues.consume(queue)
        print(taken.id if taken else "none", flush=True)
        await asyncio.sleep(3600)


async def work(path: str, queue: str, tag: str, count: int) -> None:
    async with AsyncQueueFile(path) as queues:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        acked: list[str] = []
        pushing = True

        async def produce() -> None:
            nonlocal pushing
            for index in range(count):
                await queues.push(queue, f"{tag}-{index}")
                await asyncio.sleep(0)
            pushing = False

        async def consume() -> None:
            while True:
                taken = await queues.consume(queue)
                if taken is None:
                    if not pushing:
                        return
                    await asyncio.sleep(0.001)
                    continue
                await queues.ack(taken)
                acked.append(taken.text)

        await asyncio.gather(produce(), consume())
        print(json.dumps(acked), flush=True)


def main(argv: list[str]) -> None:
    mode, path, queue, *rest = argv
    if mode == "push":
        asyncio.run(push(path, queue, rest[0] == "durable"))
    elif mode == "take":
        asyncio.run(take(path, queue))
    elif mode == "work":
        asyncio.run(work(path, queue, rest[0], int(rest[1])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
