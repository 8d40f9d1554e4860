"""What a stalled reader and an unknown login name cost, measured rather than asserted.

The suite checks that neither can be seen by behaviour (a stalled reader never
holds up a send or another member's delivery; an unknown name runs the same
argon2 verification as a wrong password). How close the timings are depends on
the machine's load, so the figures live here:

* ``stall``: the median time for 20 sends of 6,000 characters to reach all 199
  other members of a room, before and while one member (raw TCP, JSON lines)
  has stopped reading; the ratio is the figure (goal: at most 1.10).
* ``login_probe``: median time of a failed login for an unknown name over that
  for a known name with a wrong password, argon2 at 8 MiB and 2 passes (goal:
  between 0.5 and 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import msgspec

from homer.config import HomerConfig
from homer.errors import Unauthenticated
from homer.identity import Argon2Params, Identity
from homer.testing.server import TestServer, replace_config, running_homer

from .common import Record, record


def _small_queue(config: HomerConfig) -> HomerConfig:
    unlimited = {"rate": 1e6, "burst": 1e6, "user_rate": 1e6, "user_burst": 1e6}
    return replace_config(
        config, server={"tcp_port": 0}, limits={"send_queue": 64 * 1024, **unlimited}
    )


async def _drain(client: object, room: str, count: int) -> None:
    seen = 0
    async with asyncio.timeout(60):
        while seen < count:
            event = await client.events.get()  # type: ignore[attr-defined]
            if event.op == "msg" and event.room == room:
                seen += 1


async def _stall(members_count: int, rounds: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as data:
        async with running_homer(Path(data), configure=_small_queue) as server:
            return await _stall_on(server, members_count, rounds)


async def _stall_on(server: TestServer, members_count: int, rounds: int) -> tuple[float, float]:
    sender = await server.client("sender")
    await sender.create("big")
    members = [await server.client(f"m{i}") for i in range(members_count)]
    for member in members:
        await member.join("big")
    await asyncio.sleep(0.3)
    for member in members:
        while not member.events.empty():
            member.events.get_nowait()

    async def round_trip(count: int) -> float:
        started = time.perf_counter()
        await asyncio.gather(*(sender.send("big", "x" * 6000) for _ in range(count)))
        await asyncio.gather(*(_drain(m, "big", count) for m in members))
        return time.perf_counter() - started

    baseline = statistics.median([await round_trip(20) for _ in range(rounds)])
    assert server.tcp_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.tcp_port)
    token = await server.token("stalled")
    for request in (
        {"op": "hello", "rid": 1, "token": token},
        {"op": "join", "rid": 2, "room": "big"},
    ):
        writer.write(msgspec.json.encode(request) + b"\n")
    async with asyncio.timeout(30):
        while b'"rid":2' not in await reader.readline():
            pass
    writer.transport.pause_reading()  # never reads again
    stalled = statistics.median([await round_trip(20) for _ in range(rounds)])
    writer.close()
    return baseline, stalled


async def _login_probe(rounds: int) -> tuple[float, float]:
    params = Argon2Params(time_cost=2, memory_cost_kib=8192, parallelism=1)
    with tempfile.TemporaryDirectory() as data:
        identity = await Identity.open(HomerConfig(data_dir=data), password_params=params)
        try:
            await identity.accounts.register("erin", "a-good-password")

            async def timed(name: str) -> float:
                started = time.perf_counter()
                with contextlib.suppress(Unauthenticated):
                    await identity.accounts.authenticate(name, "wrong password")
                return time.perf_counter() - started

            await timed("nobody")  # the dummy hash is made on first use
            known: list[float] = []
            unknown: list[float] = []
            for _ in range(rounds):  # interleaved: drift in load hits both alike
                known.append(await timed("erin"))
                unknown.append(await timed("nobody-at-all"))
        finally:
            await identity.close()
    return statistics.median(known), statistics.median(unknown)


def run(quick: bool) -> list[Record]:
    members, rounds = (49, 3) if quick else (199, 5)
    baseline, stalled = asyncio.run(_stall(members, rounds))
    known, unknown = asyncio.run(_login_probe(5 if quick else 21))
    return [
        record("stall", "homer", "room_round_trip", round(baseline * 1000, 2), "ms"),
        record("stall", "homer", "room_round_trip_stalled", round(stalled * 1000, 2), "ms"),
        record("stall", "homer", "ratio_stalled_vs_not", round(stalled / baseline, 3), "x"),
        record("login_probe", "homer", "wrong_password", round(known * 1000, 2), "ms"),
        record("login_probe", "homer", "unknown_name", round(unknown * 1000, 2), "ms"),
        record("login_probe", "homer", "ratio_unknown_vs_known", round(unknown / known, 3), "x"),
    ]
