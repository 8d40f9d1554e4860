"""Local persistent queues: named FIFO queues of bytes in one SQLite file.

::

    async with AsyncQueueFile("chat-queues.db") as queues:
        await queues.create("outbox", capacity=1000, overflow="refuse")
        await queues.push("outbox", b"hello")
        taken = await queues.consume("outbox")
        if taken is not None:
            ...  # deliver taken.data
            await queues.ack(taken)

Each queue has a capacity and an overflow policy (``drop_oldest`` or
``refuse``). ``pop`` removes an item at once; ``consume`` hides it until it is
acknowledged, and hands it out again if it is released, if its visibility
timeout ends first (its consumer died) or if the file is closed before the ack
(at-least-once delivery). A call that returned is in the file: a crash of the
process loses none of it, and no call ever leaves half an item. Several tasks,
threads and processes may use one file at once; no two consumers hold the same
item at the same time.

:class:`QueueFile` is the synchronous API, :class:`AsyncQueueFile` the asyncio
one. This package needs only the standard library (and Homer's error classes);
docs/reference/queues.md has the whole story.
"""

from __future__ import annotations

from homer.client.queues.aio import AsyncQueueFile
from homer.client.queues.errors import (
    InvalidArgument,
    InvalidItem,
    QueueClosed,
    QueueError,
    QueueExists,
    QueueFileError,
    QueueFull,
    QueueNotFound,
    UnknownReceipt,
)
from homer.client.queues.sync import QueueFile
from homer.client.queues.values import Delivery, Item, Overflow, QueueInfo, Receipt

__all__ = [
    "AsyncQueueFile",
    "Delivery",
    "InvalidArgument",
    "InvalidItem",
    "Item",
    "Overflow",
    "QueueClosed",
    "QueueError",
    "QueueExists",
    "QueueFile",
    "QueueFileError",
    "QueueFull",
    "QueueInfo",
    "QueueNotFound",
    "Receipt",
    "UnknownReceipt",
]
