"""History reads from a big room: p50 and p99 latency of typical history queries.

A room holding 1,000,000 messages (100,000 in --quick: the unit says which),
~100-byte texts, one every 10 ms of simulated time, written straight into the
SQLite store through ``SQLiteStore.append_messages`` in batches of 10,000 in
a temp dir. Then Homer is started in-process on that data dir (uvloop) and
each query goes through the service API a request handler calls,
``app.messages.history(user, room, ...)``: room and membership checks, the
store query in the database thread, and rendering the messages as envelopes.

* ``last50``: the latest 50 messages (what a client shows on opening a room).
* ``window``: a time window of one minute (6,000 messages) at a random point,
  first page of 50 (``since``/``until``).
* ``page``: 50 messages before a random sequence number (scrolling back).
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from .common import Record, record
from .netkit import percentile

SCENARIO = "history"
ROOM = "big"
BATCH = 10_000
STEP = 0.01  # seconds of simulated time between messages


def run(quick: bool) -> list[Record]:
    total = 100_000 if quick else 1_000_000
    queries = 300 if quick else 2000
    root = Path(tempfile.mkdtemp(prefix="homer-bench-history-"))
    try:
        import uvloop

        return uvloop.run(_run(root, total, queries))
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _run(root: Path, total: int, queries: int) -> list[Record]:
    from homer.config import HomerConfig
    from homer.core.app import Homer
    from homer.identity.passwords import Argon2Params
    from homer.identity.permissions import SYSTEM
    from homer.store.records import NewMessage

    app = Homer(HomerConfig(data_dir=str(root)), password_params=Argon2Params.cheap())
    await app.start()
    try:
        reader = await app.identity.accounts.create(SYSTEM, "reader", "bench-password")
        await app.rooms.create(reader, room_id=ROOM, kind="public", name=ROOM, topic="", meta=None)
        base = time.time() - total * STEP - 3600
        pad = "x" * 90
        started = time.perf_counter()
        for first in range(0, total, BATCH):
            batch = [
                NewMessage(
                    room_id=ROOM,
                    id=str(uuid.uuid4()),
                    sender_id=reader.id,
                    client_id=f"fill-{i}",
                    kind="msg",
                    ts=base + i * STEP,
                    body={"text": f"{i:09d} {pad}"},
                )
                for i in range(first, min(first + BATCH, total))
            ]
            outcomes = await app.store.append_messages(batch)
            if any(isinstance(o, Exception) for o in outcomes):
                raise RuntimeError(f"filling the room failed: {outcomes[:3]}")
        fill_s = time.perf_counter() - started

        rng = random.Random(7)
        span = total * STEP
        last_seq = (await app.store.room(ROOM)).last_seq  # type: ignore[union-attr]

        async def last50() -> Any:
            return await app.messages.history(reader, ROOM, limit=50)

        async def window() -> Any:
            since = base + rng.uniform(0, span - 60)
            return await app.messages.history(reader, ROOM, since=since, until=since + 60, limit=50)

        async def page() -> Any:
            before = rng.randint(51, last_seq)
            return await app.messages.history(reader, ROOM, before=before, limit=50)

        found = await last50()
        if len(found["messages"]) != 50 or found["messages"][-1].seq != last_seq:
            raise RuntimeError("the latest 50 messages are not what was stored")
        timings: dict[str, list[float]] = {}
        for name, query in (("last50", last50), ("window", window), ("page", page)):
            for _ in range(20):  # warm up
                await query()
            samples = []
            for _ in range(queries):
                t0 = time.perf_counter()
                answer = await query()
                samples.append((time.perf_counter() - t0) * 1e3)
                if len(answer["messages"]) != 50:
                    raise RuntimeError(f"{name}: {len(answer['messages'])} messages, not 50")
            timings[name] = samples
    finally:
        await app.stop()

    scale = f"{total // 1000}k msgs" if total < 1_000_000 else f"{total // 1_000_000}M msgs"
    records = [
        record(SCENARIO, "homer", "fill_msgs_per_s", round(total / fill_s), f"msgs/s ({scale})"),
    ]
    for name, samples in timings.items():
        records += [
            record(
                SCENARIO,
                "homer",
                f"{name}_p50_ms",
                round(statistics.median(samples), 3),
                f"ms ({scale}){' (target < 2)' if name == 'last50' else ''}",
            ),
            record(
                SCENARIO,
                "homer",
                f"{name}_p99_ms",
                round(percentile(samples, 0.99), 3),
                f"ms ({scale})",
            ),
        ]
    return records
