"""What the tests of ``homer backup``, ``restore`` and ``copy`` share: a server
process on any store, and what such a server answers to ``history`` and resume."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.server.rawws import RawWebSocket
from tests.server.test_process import CHEAP, wait_until_listening


def homer_env() -> dict[str, str]:
    """Cheap password hashing, no rate limits, and room for many connections of one user."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOMER_")},
        **CHEAP,
        "HOMER_LIMITS_MAX_CONNECTIONS_PER_USER": "100",
    }


async def homer_command(*args: str) -> tuple[int, str, str]:
    """Run ``homer`` with ``args``; its exit code, standard output and error."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "homer",
        *args,
        env=homer_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def serving(data_dir: Path, port: int, *args: str) -> AsyncIterator[None]:
    """``homer serve`` on ``data_dir`` with ``args`` (``--store URL``), until the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "homer", "serve", "--port", str(port), "--data-dir", str(data_dir), *args),
        env=homer_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_until_listening(process, port, within=30)
        yield
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 20)


async def _hello(port: int, token: str, resume: dict[str, Any] | None = None) -> RawWebSocket:
    ws = await RawWebSocket.connect("127.0.0.1", port)
    await ws.send_json({"op": "hello", "rid": 1, "token": token, "resume": resume or {}})
    return ws


async def history(port: int, token: str, room: str, *, after: int, limit: int) -> list[Any]:
    """The messages ``history`` answers from ``after`` on."""
    ws = await _hello(port, token)
    try:
        await ws.reply(1)
        request = {"op": "history", "rid": 2, "room": room, "after": after, "limit": limit}
        await ws.send_json(request)
        answer = await ws.reply(2)
        return list(answer["body"]["messages"])
    finally:
        await ws.close()


async def resumed(port: int, token: str, room: str, epoch: int, seq: int) -> list[Any]:
    """What a new connection resuming ``room`` from (epoch, seq) is sent: the
    ``resumed`` body, then the replayed messages."""
    ws = await _hello(port, token, {room: {"epoch": epoch, "seq": seq}})
    try:
        answer: list[Any] = []
        count: int | None = None
        async with asyncio.timeout(20):
            while count is None or len(answer) < count + 1:
                event = await ws.json()
                if event.get("room") != room:
                    continue
                if event["op"] == "resumed":
                    count = event["body"].get("count", 0)
                    answer.insert(0, event["body"])
                elif event["op"] == "msg":
                    answer.append(event)
        return answer
    finally:
        await ws.close()


def rooms_of(database: Path) -> dict[str, tuple[int, int]]:
    """Each room's (epoch, last_seq) in an SQLite database file."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, epoch, last_seq FROM rooms")}
