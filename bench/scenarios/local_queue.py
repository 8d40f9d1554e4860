"""The local persistent queue (``homer.client.queues``): pairs of calls per second.

One task on asyncio's default loop, one queue in a fresh SQLite file in a temp
dir, items of 200 bytes. Each call is whole, as the API promises: it has
returned only once its transaction is committed.

* ``push_pop_pairs_per_s``: one ``push`` then one ``pop`` of that item, the
  queue empty between pairs (what an outbox or an unread list mostly is).
* ``consume_ack_pairs_per_s``: one ``consume`` then one ``ack``, from a queue
  filled beforehand (the fill is not timed).

Each in the default mode (``synchronous=NORMAL``: survives a crash of the
process) and in durable mode (``synchronous=FULL``: an fsync per commit,
survives a power loss), rounds interleaved so that drift in machine load hits
both alike; the median round counts. The baseline, ``sqlite3``, is the floor
on the same machine: one bare ``INSERT`` then one bare ``DELETE`` per pair, in
autocommit mode, same file settings as the default mode, no queue logic and no
event loop.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from homer.client.queues import AsyncQueueFile

from .common import Record, record

SCENARIO = "local_queue"
ITEM = bytes(range(200))


def run(quick: bool) -> list[Record]:
    root = Path(tempfile.mkdtemp(prefix="homer-bench-queue-"))
    try:
        return asyncio.run(_run(root, quick))
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _run(root: Path, quick: bool) -> list[Record]:
    rounds = 3 if quick else 7
    fast_pairs = 3_000 if quick else 20_000
    durable_pairs = 200 if quick else 1_000
    rates: dict[str, list[float]] = {}

    def note(name: str, pairs: int, seconds: float) -> None:
        rates.setdefault(name, []).append(pairs / seconds)

    async with (
        AsyncQueueFile(root / "fast.db") as fast,
        AsyncQueueFile(root / "durable.db", durable=True) as durable,
    ):
        for queues in (fast, durable):
            await queues.create("pairs", capacity=1_000_000)
            await queues.create("taken", capacity=1_000_000)
        bare = _bare_sqlite(root / "bare.db")
        await _push_pop(fast, fast_pairs // 10)  # warm up
        for _ in range(rounds):
            note("fast push_pop", fast_pairs, await _push_pop(fast, fast_pairs))
            note("durable push_pop", durable_pairs, await _push_pop(durable, durable_pairs))
            note("fast consume_ack", fast_pairs, await _consume_ack(fast, fast_pairs))
            note("durable consume_ack", durable_pairs, await _consume_ack(durable, durable_pairs))
            note("bare", fast_pairs, _bare_pairs(bare, fast_pairs))
        bare.close()

    def median(name: str) -> int:
        return round(statistics.median(rates[name]))

    return [
        record(
            SCENARIO,
            "homer",
            "push_pop_pairs_per_s",
            median("fast push_pop"),
            "pairs/s (target >= 20,000)",
        ),
        record(
            SCENARIO,
            "homer",
            "push_pop_pairs_per_s_durable",
            median("durable push_pop"),
            "pairs/s (fsync per call)",
        ),
        record(SCENARIO, "homer", "consume_ack_pairs_per_s", median("fast consume_ack"), "pairs/s"),
        record(
            SCENARIO,
            "homer",
            "consume_ack_pairs_per_s_durable",
            median("durable consume_ack"),
            "pairs/s (fsync per call)",
        ),
        record(SCENARIO, "sqlite3", "push_pop_pairs_per_s", median("bare"), "pairs/s (bare SQL)"),
        record(
            SCENARIO,
            "homer",
            "ratio_vs_bare_sqlite3",
            round(median("fast push_pop") / median("bare"), 2),
            "x",
        ),
    ]


async def _push_pop(queues: AsyncQueueFile, pairs: int) -> float:
    """Seconds for ``pairs`` pushes, each followed by the pop of what it pushed."""
    started = time.perf_counter()
    for _ in range(pairs):
        pushed = await queues.push("pairs", ITEM)
        popped = await queues.pop("pairs")
        if popped is None or popped.id != pushed:
            raise RuntimeError(f"pushed item {pushed}, popped {popped}")
    return time.perf_counter() - started


async def _consume_ack(queues: AsyncQueueFile, pairs: int) -> float:
    """Seconds for ``pairs`` consumes, each followed by the ack of what it took."""
    for _ in range(pairs):
        await queues.push("taken", ITEM)
    started = time.perf_counter()
    for _ in range(pairs):
        taken = await queues.consume("taken")
        if taken is None:
            raise RuntimeError("the queue ran dry")
        await queues.ack(taken)
    elapsed = time.perf_counter() - started
    if await queues.length("taken"):
        raise RuntimeError("acked items are still in the queue")
    return elapsed


def _bare_sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    return conn


def _bare_pairs(conn: sqlite3.Connection, pairs: int) -> float:
    started = time.perf_counter()
    for _ in range(pairs):
        conn.execute("INSERT INTO items (data) VALUES (?)", (ITEM,))
        conn.execute("DELETE FROM items WHERE id = (SELECT min(id) FROM items)")
    return time.perf_counter() - started
