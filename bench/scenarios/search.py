"""Full-text search over a big history: p50 and p99 latency of ``search``.

1,000,000 messages (100,000 in --quick: the unit says which) in 100 rooms,
written straight into the SQLite store through ``append_messages`` (so each is
indexed as a live message is), with texts of 8-20 words drawn from a
vocabulary of 20,000 with a Zipf-like frequency, as chat text is. The reader
is a member of 20 of the rooms. Each query goes through the service a request
handler calls, ``app.changes.search(user, query)``: parsing, the membership
filter, ranking, highlights and rendering the envelopes.

The baseline, in the same run on the same file, is the bare FTS5 query (the
same ``MATCH`` ranked by BM25 over every match, ``LIMIT 20``, no membership
join, no rendering) on a connection of its own: what a SQLite application
writing the obvious query pays. Homer ranks the newest 1,000 matches in the
user's rooms (``homer.store.search.WINDOW``), so for a common word it does less
than the baseline; for the others it does more (the membership join, the
messages, highlights and envelopes). Queries:

* ``rare``: one word of the rarest tenth (a name, a ticket number);
* ``common``: one word of the 200 most frequent (its matches run to tens of
  thousands; ranking them is the cost);
* ``two``: two mid-frequency words;
* ``prefix``: the first four letters of a mid-frequency word, as ``abcd*``.
"""

from __future__ import annotations

import itertools
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from .common import Record, record
from .netkit import percentile

SCENARIO = "search"
ROOMS = 100
MEMBER_OF = 20
VOCABULARY = 20_000
BATCH = 10_000


def _words(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    return sorted(words, key=lambda w: rng.random())


def run(quick: bool) -> list[Record]:
    total = 100_000 if quick else 1_000_000
    queries = 200 if quick else 1000
    root = Path(tempfile.mkdtemp(prefix="homer-bench-search-"))
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
    from homer.store.search import Query

    rng = random.Random(11)
    vocabulary = _words(rng)
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(VOCABULARY)))  # Zipf
    app = Homer(HomerConfig(data_dir=str(root)), password_params=Argon2Params.cheap())
    await app.start()
    try:
        reader = await app.identity.accounts.create(SYSTEM, "reader", "bench-password")
        writer = await app.identity.accounts.create(SYSTEM, "writer", "bench-password")
        rooms = [f"room-{n:03d}" for n in range(ROOMS)]
        for n, room in enumerate(rooms):
            await app.rooms.create(
                writer, room_id=room, kind="public", name=room, topic="", meta=None
            )
            if n < MEMBER_OF:
                await app.rooms.join(reader, room)
        started = time.perf_counter()
        base = time.time() - total
        for first in range(0, total, BATCH):
            batch = []
            for i in range(first, min(first + BATCH, total)):
                text = " ".join(
                    rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(8, 20))
                )
                batch.append(
                    NewMessage(
                        room_id=rooms[i % ROOMS],
                        id=str(uuid.uuid4()),
                        sender_id=writer.id,
                        client_id=f"fill-{i}",
                        kind="msg",
                        ts=base + i,
                        body={"text": text},
                    )
                )
            outcomes = await app.store.append_messages(batch)
            if any(isinstance(o, Exception) for o in outcomes):
                raise RuntimeError(f"filling the rooms failed: {outcomes[:3]}")
        fill_s = time.perf_counter() - started

        kinds: dict[str, Callable[[], str]] = {
            "rare": lambda: rng.choice(vocabulary[-VOCABULARY // 10 :]),
            "common": lambda: rng.choice(vocabulary[:200]),
            "two": lambda: " ".join(rng.sample(vocabulary[500:3000], 2)),
            "prefix": lambda: rng.choice(vocabulary[500:3000])[:4] + "*",
        }
        raw = sqlite3.connect(root / "homer.db")
        raw_sql = (
            "SELECT d.room_id, d.seq FROM search_text"
            " JOIN search_docs d ON d.id = search_text.rowid"
            " WHERE search_text MATCH ? ORDER BY rank LIMIT 20"
        )
        homer_ms: dict[str, list[float]] = {}
        raw_ms: dict[str, list[float]] = {}
        hits = 0
        for name, make in kinds.items():
            asked = [make() for _ in range(queries + 20)]
            samples, bare = [], []
            for n, words in enumerate(asked):
                t0 = time.perf_counter()
                answer = await app.changes.search(reader, words, limit=20)
                took = (time.perf_counter() - t0) * 1e3
                t0 = time.perf_counter()
                raw.execute(raw_sql, (Query.parse(words).fts5(),)).fetchall()
                bare_took = (time.perf_counter() - t0) * 1e3
                if n >= 20:  # the first are warm-up
                    samples.append(took)
                    bare.append(bare_took)
                    hits += len(answer["results"])
            homer_ms[name], raw_ms[name] = samples, bare
        raw.close()
        if not hits:
            raise RuntimeError("no query found anything: the index is not being used")
    finally:
        await app.stop()

    scale = f"{total // 1000}k msgs" if total < 1_000_000 else f"{total // 1_000_000}M msgs"
    records = [
        record(SCENARIO, "homer", "fill_msgs_per_s", round(total / fill_s), f"msgs/s ({scale})"),
    ]
    for name in homer_ms:
        for system, found in (("homer", homer_ms), ("raw-fts5", raw_ms)):
            unit = f"ms ({scale})"
            p50 = statistics.median(found[name])
            p99 = percentile(found[name], 0.99)
            records += [
                record(SCENARIO, system, f"{name}_p50_ms", round(p50, 3), unit + _goal(system)),
                record(SCENARIO, system, f"{name}_p99_ms", round(p99, 3), unit),
            ]
        ratio = statistics.median(homer_ms[name]) / max(statistics.median(raw_ms[name]), 1e-6)
        records.append(
            record(SCENARIO, "homer", f"{name}_p50_vs_raw", round(ratio, 2), "x bare FTS5")
        )
    return records


def _goal(system: str) -> str:
    return " (target < 20)" if system == "homer" else ""
