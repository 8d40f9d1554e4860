"""Login flood: one user's logins while another address floods sign-ups.

One ``homer serve`` process with the real argon2 parameters (the defaults:
argon2id, 64 MiB, 3 passes, 4 lanes; 2 hashing workers) and the login limits
lifted, so that only the hashing pool is measured. A user logs in from
127.0.0.1, one login after another (30 a phase; 8 in --quick):

* ``quiet``: nothing else going on;
* ``flood``: meanwhile 16 tasks sign up from 127.0.0.2 as fast as they are
  answered (a refused one is sent again after 10 ms), until the user's logins
  are done.

Two systems: ``homer`` with the default sign-up limit
(``limits.registrations_per_address``: most of the flood is refused before any
hashing), and ``homer-no-signup-limit`` with it lifted, so every sign-up
reaches the hashing pool and only its fair shares (each address in turn, at
most ``identity.passwords.per_client`` jobs queued or running per address)
keep the user's logins moving.

Records, per system: ``login_p50_ms_*`` and ``login_p99_ms_*`` per phase;
``login_p99_ratio`` (flood / quiet; the goal is at most 2); the flood's
``signups_created`` and ``signups_refused``; the server's ``rss_mib_peak``
over the flood (psutil, sampled every 50 ms).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from .common import Record, record
from .netkit import HomerServer, log, percentile

SCENARIO = "login_flood"
PASSWORD = "a long and unguessable bench passphrase"
FLOODERS = 16
#: The defaults of identity.passwords (argon2id), over the cheap ones of HOMER_ENV.
REAL_ARGON2 = {
    "HOMER_IDENTITY_PASSWORDS_TIME_COST": "3",
    "HOMER_IDENTITY_PASSWORDS_MEMORY_COST_KIB": "65536",
    "HOMER_IDENTITY_PASSWORDS_PARALLELISM": "4",
    "HOMER_LIMITS_LOGINS_PER_ACCOUNT": "1000000",
    "HOMER_LIMITS_LOGINS_PER_ADDRESS": "1000000",
    "HOMER_LIMITS_LOGINS_PER_ACCOUNT_TOTAL": "1000000",
}
NO_SIGNUP_LIMIT = {
    "HOMER_LIMITS_REGISTRATIONS_PER_ADDRESS": "1000000",
    "HOMER_LIMITS_REGISTRATION_BURST": "1000000",
}


def run(quick: bool) -> list[Record]:
    logins = 8 if quick else 30
    records: list[Record] = []
    for system, env in (
        ("homer", REAL_ARGON2),
        ("homer-no-signup-limit", {**REAL_ARGON2, **NO_SIGNUP_LIMIT}),
    ):
        with tempfile.TemporaryDirectory(prefix="homer-bench-flood-") as root:
            server = HomerServer(Path(root) / "data", Path(root) / "homer.log", env)
            try:
                records += asyncio.run(_measure(server, system, logins))
            finally:
                server.stop()
    return records


async def _measure(server: HomerServer, system: str, logins: int) -> list[Record]:
    url = f"http://127.0.0.1:{server.port}"
    user = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.1", 0)))
    flood = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0), limit=FLOODERS)
    )
    try:
        async with user.post(
            f"{url}/api/register", json={"name": "alice", "password": PASSWORD}
        ) as answer:
            assert answer.status == 201, await answer.text()
        await _logins(user, url, 2)  # warm up: the dummy hash, the first allocations
        quiet = await _logins(user, url, logins)
        log(f"{system}: quiet p99 {percentile(quiet, 0.99) * 1000:.0f} ms")

        done = asyncio.Event()
        created = refused = 0
        peak = server.rss()

        async def flooder(worker: int) -> None:
            nonlocal created, refused
            n = 0
            while not done.is_set():
                n += 1
                body = {"name": f"bot{worker}x{n}", "password": f"{PASSWORD} {worker} {n}"}
                async with flood.post(f"{url}/api/register", json=body) as answer:
                    await answer.read()
                    if answer.status == 201:
                        created += 1
                    else:
                        refused += 1
                        await asyncio.sleep(0.01)

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, server.rss())
                await asyncio.sleep(0.05)

        tasks = [asyncio.create_task(flooder(i)) for i in range(FLOODERS)]
        tasks.append(asyncio.create_task(sample()))
        await asyncio.sleep(1.0)  # the flood under way before the first login
        try:
            flooded = await _logins(user, url, logins)
        finally:
            done.set()
            await asyncio.gather(*tasks)
        log(f"{system}: flood p99 {percentile(flooded, 0.99) * 1000:.0f} ms")
    finally:
        await user.close()
        await flood.close()

    def ms(values: list[float], q: float) -> float:
        return round(percentile(values, q) * 1000, 1)

    return [
        record(SCENARIO, system, "login_p50_ms_quiet", ms(quiet, 0.5), "ms"),
        record(SCENARIO, system, "login_p99_ms_quiet", ms(quiet, 0.99), "ms"),
        record(SCENARIO, system, "login_p50_ms_flood", ms(flooded, 0.5), "ms"),
        record(SCENARIO, system, "login_p99_ms_flood", ms(flooded, 0.99), "ms"),
        record(
            SCENARIO,
            system,
            "login_p99_ratio",
            round(percentile(flooded, 0.99) / percentile(quiet, 0.99), 2),
            "x",
        ),
        record(SCENARIO, system, "signups_created", created, "sign-ups"),
        record(SCENARIO, system, "signups_refused", refused, "sign-ups"),
        record(SCENARIO, system, "rss_mib_peak", round(peak / 2**20, 1), "MiB"),
    ]


async def _logins(session: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    """Seconds each of ``count`` logins took, one after another."""
    took = []
    for _ in range(count):
        started = time.perf_counter()
        async with session.post(
            f"{url}/api/login", json={"name": "alice", "password": PASSWORD}
        ) as answer:
            assert answer.status == 200, await answer.text()
        took.append(time.perf_counter() - started)
    return took
