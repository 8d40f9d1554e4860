"""The hashing pool serves client addresses in turn, and refuses a client's
excess at once instead of queueing it (cheap hashing; no timing asserts)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from homer.errors import RateLimited
from homer.identity.passwords import Argon2Params, FairPool, Passwords


async def test_a_flood_from_one_client_waits_its_turn_behind_another_client() -> None:
    executor = ThreadPoolExecutor(max_workers=1)
    pool = FairPool(executor, workers=1, per_client=10)
    served: list[str] = []
    pool.on_start = served.append
    gate = threading.Event()
    try:
        flood = [asyncio.create_task(pool.run("flood", gate.wait, 5.0)) for _ in range(6)]
        await asyncio.sleep(0)
        alice = asyncio.create_task(pool.run("alice", lambda: "alice's hash"))
        await asyncio.sleep(0)
        assert served == ["flood"], "one job runs, the rest wait in their client's queue"
        assert pool.statistics() == {"running": 1, "queued": 6, "clients": 2}
        gate.set()
        assert await alice == "alice's hash"
        await asyncio.gather(*flood)
        # Alice came after five flood jobs had queued, yet is served second.
        assert served[:3] == ["flood", "flood", "alice"]
        assert served.count("flood") == 6
    finally:
        gate.set()
        executor.shutdown()


async def test_a_client_past_its_share_is_refused_at_once_while_others_are_served() -> None:
    passwords = Passwords(Argon2Params.cheap(), workers=1, per_client=3)
    flooder = "203.0.113.7"
    served: list[str] = []
    gate = threading.Event()
    try:
        stored = await passwords.hash("correct horse battery staple", client="alice")
        passwords.pool.on_start = served.append
        busy = asyncio.create_task(passwords.pool.run(flooder, gate.wait, 5.0))
        flood = [
            asyncio.create_task(passwords.hash(f"bot password {n}", client=flooder))
            for n in range(2)
        ]
        await asyncio.sleep(0)
        with pytest.raises(RateLimited):  # the fourth is refused, not queued
            await passwords.hash("bot password 3", client=flooder)
        alice = asyncio.create_task(
            passwords.verify(stored, "correct horse battery staple", client="alice")
        )
        await asyncio.sleep(0)
        gate.set()
        assert await alice == (True, False)
        await asyncio.gather(busy, *flood)
        # Alice queued after both bot hashes, and is served before the second.
        assert served == [flooder, flooder, "alice", flooder]
    finally:
        gate.set()
        passwords.close()


async def test_one_client_never_holds_every_worker() -> None:
    executor = ThreadPoolExecutor(max_workers=2)
    pool = FairPool(executor, workers=2, per_client=10)
    served: list[str] = []
    pool.on_start = served.append
    gate = threading.Event()
    try:
        flood = [asyncio.create_task(pool.run("flood", gate.wait, 5.0)) for _ in range(3)]
        await asyncio.sleep(0)
        assert pool.statistics() == {"running": 1, "queued": 2, "clients": 1}
        # The second worker is free for anyone else: alice starts at once.
        assert await pool.run("alice", lambda: "alice's hash") == "alice's hash"
        assert served == ["flood", "alice"]
        gate.set()
        await asyncio.gather(*flood)
    finally:
        gate.set()
        executor.shutdown()
