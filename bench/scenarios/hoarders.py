"""Hoarders: connections that ask for history and never read the answers.

One Homer process (``homer serve``) with the default request limits (20 a
second per connection, 50 per user). One user fills a room with 500 messages
of 7,000 characters (a 500-message history page is then about 3.6 MB), opens
ten WebSocket connections, stops reading on all of them, and has each ask for
that page twenty times a second for the phase (20 s; 8 s in --quick).

Records:

* ``rss_mib_quiet``: the server's resident memory once the room is full.
* ``rss_mib_peak``: the most it reached while the ten asked (sampled every
  0.1 s); ``rss_ratio``: peak / quiet (goal: at most 2; a security review saw
  66 -> 512 MiB before replies counted against ``limits.send_queue`` and a
  connection that stopped reading stopped being read).
* ``closed_too_slow``: connections the server closed as too slow
  (``homer_slow_consumers_total``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import tempfile
import time
from pathlib import Path

import aiohttp

from clients.lean import masked_frame

from .common import Record, record
from .netkit import HomerServer, log

SCENARIO = "hoarders"
CONNECTIONS = 10
MESSAGES = 500
TEXT = "x" * 7_000
PASSWORD = "hoarding is a bench and nothing more"
#: The default request limits: the server's own, not the bench's raised ones.
DEFAULT_LIMITS = {
    "HOMER_LIMITS_RATE": "20",
    "HOMER_LIMITS_BURST": "60",
    "HOMER_LIMITS_USER_RATE": "50",
    "HOMER_LIMITS_USER_BURST": "150",
}


def frame(document: dict[str, object]) -> bytes:
    """A request as a masked client text frame."""
    return masked_frame(json.dumps(document).encode())


class Hoarder:
    """A WebSocket connection that reads only until it is told to stop."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, token: str) -> Hoarder:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        hoarder = cls(reader, writer)
        await hoarder.ask({"op": "hello", "rid": 0, "token": token})
        return hoarder

    async def ask(self, document: dict[str, object]) -> dict[str, object]:
        """Send a request and read until its answer."""
        (answer,) = await self.ask_all([document])
        return answer

    async def ask_all(self, documents: list[dict[str, object]]) -> list[dict[str, object]]:
        """Send requests at once and read until every one is answered, in their order."""
        self.writer.write(b"".join(frame(document) for document in documents))
        answers: dict[object, dict[str, object]] = {}
        while len(answers) < len(documents):
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(size)
            if first & 0x0F == 0x1:
                answer: dict[str, object] = json.loads(payload)
                if answer.get("rid") is not None:
                    answers[answer["rid"]] = answer
        return [answers[document["rid"]] for document in documents]


async def _sign_in(url: str) -> str:
    async with aiohttp.ClientSession() as http:
        body = {"name": "hoarder", "password": PASSWORD}
        async with http.post(f"{url}/api/register", json=body) as answer:
            answer.raise_for_status()
        async with http.post(f"{url}/api/login", json=body) as answer:
            answer.raise_for_status()
            return str((await answer.json())["token"])


async def _phase(server: HomerServer, seconds: float) -> tuple[float, float]:
    url = f"http://127.0.0.1:{server.port}"
    token = await _sign_in(url)
    hoarders = [await Hoarder.open(server.port, token) for _ in range(CONNECTIONS)]
    await hoarders[0].ask({"op": "create", "rid": 1, "room": "big"})
    for hoarder in hoarders[1:]:
        await hoarder.ask({"op": "join", "rid": 1, "room": "big"})
    # Fill the room within the request limits: two connections, ten at a time.
    sent = 0
    while sent < MESSAGES:
        for hoarder in hoarders[:2]:
            batch = [
                {"op": "send", "rid": 100 + k, "room": "big", "cid": f"c{sent + k}", "text": TEXT}
                for k in range(10)
            ]
            answers = await hoarder.ask_all(batch)
            sent += sum(answer["op"] == "reply" for answer in answers)
        await asyncio.sleep(0.45)
    server.settle()
    quiet = server.rss() / 2**20
    for hoarder in hoarders:
        hoarder.writer.transport.pause_reading()  # type: ignore[attr-defined]
    ask = frame({"op": "history", "rid": 7, "room": "big", "limit": MESSAGES})
    peak = quiet
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for hoarder in hoarders:
            if not hoarder.writer.is_closing():
                hoarder.writer.write(ask)
        await asyncio.sleep(0.05)
        peak = max(peak, server.rss() / 2**20)
    for hoarder in hoarders:
        hoarder.writer.transport.abort()  # type: ignore[attr-defined]
    return quiet, peak


def run(quick: bool) -> list[Record]:
    seconds = 8.0 if quick else 20.0
    with tempfile.TemporaryDirectory(prefix="homer-bench-hoarders-") as tmp:
        root = Path(tmp)
        server = HomerServer(root / "data", root / "homer.log", env=DEFAULT_LIMITS)
        try:
            quiet, peak = asyncio.run(_phase(server, seconds))
            slow = server.metrics().get("homer_slow_consumers_total", 0.0)
        finally:
            server.stop()
    log(f"hoarders: {quiet:.0f} MiB quiet, {peak:.0f} MiB at most, {slow:.0f} closed as too slow")
    return [
        record(SCENARIO, "homer", "rss_mib_quiet", round(quiet, 1), "MiB"),
        record(SCENARIO, "homer", "rss_mib_peak", round(peak, 1), "MiB"),
        record(SCENARIO, "homer", "rss_ratio", round(peak / quiet, 2), "x (goal <= 2)"),
        record(SCENARIO, "homer", "closed_too_slow", slow, "connections"),
    ]
