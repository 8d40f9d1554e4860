"""Slow loris: many connections that start a handshake and never finish it are cut at
``limits.handshake_timeout`` on both listeners, however they dribble, while a normal
client is served meanwhile. (One silent socket and one hello-less WebSocket are in
test_sessions.py; one silent raw TCP client in test_tcp.py.)"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from homer.config import HomerConfig
from homer.testing.server import replace_config, running_homer

TIMEOUT = 0.5
#: An unfinished request head: no blank line, ever.
HEAD = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
#: An unfinished raw TCP greeting: no newline, ever.
GREETING = b"homer/1 js"


class Slow:
    """One socket that sent ``first`` and, if ``dribble``, keeps adding to it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.opened = asyncio.get_running_loop().time()
        self.received = b""

    @classmethod
    async def open(cls, host: str, port: int, first: bytes) -> Slow:
        slow = cls(*await asyncio.open_connection(host, port))
        slow.writer.write(first)
        await slow.writer.drain()
        return slow

    async def dribble(self, data: bytes, every: float) -> None:
        """Send ``data`` every ``every`` seconds until the server cuts the connection."""
        with contextlib.suppress(ConnectionError):
            while not self.writer.is_closing() and not self.reader.at_eof():
                await asyncio.sleep(every)
                self.writer.write(data)
                await self.writer.drain()

    async def lifetime(self) -> float:
        """Seconds from opening until the server closed the connection (reset or EOF)."""
        with contextlib.suppress(ConnectionError):
            while chunk := await self.reader.read(4096):
                self.received += chunk
        return asyncio.get_running_loop().time() - self.opened

    def close(self) -> None:
        self.writer.close()


async def test_unfinished_handshakes_are_cut_while_a_client_is_served(tmp_path: Path) -> None:
    def configure(config: Any) -> Any:
        return replace_config(config, server={"tcp_port": 0}, limits={"handshake_timeout": TIMEOUT})

    async with running_homer(tmp_path, configure=configure) as server:
        host, port, tcp_port = server.running.host, server.running.port, server.tcp_port
        assert tcp_port is not None
        http = [await Slow.open(host, port, HEAD) for _ in range(50)]
        tcp = [await Slow.open(host, tcp_port, GREETING) for _ in range(20)]
        # Half the heads and half the greetings keep growing: activity does not buy time.
        dribbling = [
            asyncio.create_task(slow.dribble(b"X-Slow: 1\r\n", 0.1)) for slow in http[::2]
        ] + [asyncio.create_task(slow.dribble(b"o", 0.1)) for slow in tcp[::2]]
        try:
            ends = asyncio.gather(*(slow.lifetime() for slow in http + tcp))
            # Meanwhile a normal client says hello, joins a room, sends and gets its ack.
            bob = await server.client("bob")
            await bob.create("lobby")
            alice = await server.client("alice")
            await alice.join("lobby")
            ack = await alice.send("lobby", "still served")
            assert ack["seq"] >= 1
            assert not ack.get("duplicate")
            async with asyncio.timeout(TIMEOUT + 3.0):
                lifetimes = await ends
        finally:
            for task in dribbling:
                task.cancel()
            for slow in http + tcp:
                slow.close()

        # The HTTP listener's timer runs per connection: cut at the timeout, without
        # an answer. Raw TCP is checked by the once-a-second sweep: up to a second late,
        # after a close event saying why.
        for lifetime in lifetimes[: len(http)]:
            assert TIMEOUT - 0.05 <= lifetime <= TIMEOUT + 1.0, lifetimes
        assert all(slow.received == b"" for slow in http)
        for lifetime in lifetimes[len(http) :]:
            assert TIMEOUT - 0.05 <= lifetime <= TIMEOUT + 2.0, lifetimes
        for slow in tcp:
            assert b'"op":"close"' in slow.received, slow.received
            assert b'"code":4001' in slow.received, slow.received

        # The cut connections are forgotten (the per-address count too); the client
        # goes on working.
        assert len(server.app.peers) == 2
        assert server.app.connections_from("127.0.0.1") == 2
        again = await alice.send("lobby", "after the storm")
        assert again["seq"] == ack["seq"] + 1


async def test_a_slow_second_head_on_a_kept_alive_connection_is_cut_too(tmp_path: Path) -> None:
    def quick(config: HomerConfig) -> HomerConfig:
        return replace_config(config, limits={"handshake_timeout": 0.5})

    async with running_homer(tmp_path, configure=quick) as server:
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
        started = asyncio.get_running_loop().time()
        writer.write(b"GET /healthz HTTP/1.1\r\n")

        async def dribble() -> None:
            for n in range(200):
                writer.write(b"X-Slow-%d: 1\r\n" % n)
                await asyncio.sleep(0.05)

        sending = asyncio.create_task(dribble())
        try:
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no answer
        finally:
            sending.cancel()
            writer.close()
        assert asyncio.get_running_loop().time() - started < 2
