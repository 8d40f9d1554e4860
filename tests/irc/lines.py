"""A small IRC client for the tests: lines out, lines in, waiting for the one that
matters. Parsing goes through Homer's own line parser, which has tests of its own."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable

from homer.protocol.irc import IrcMessage, parse
from homer.testing.server import PASSWORD

__all__ = ["IrcClient", "irc_client", "registered"]

WAIT = 10.0


class IrcClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        #: Every line received, in order, as text.
        self.seen: list[str] = []

    async def send(self, *lines: str) -> None:
        for line in lines:
            self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()

    async def line(self, within: float = WAIT) -> str:
        raw = await asyncio.wait_for(self.reader.readline(), within)
        if not raw:
            raise ConnectionError("the server closed the connection")
        text = raw.decode().rstrip("\r\n")
        self.seen.append(text)
        return text

    async def expect(
        self, match: str | Callable[[IrcMessage], bool], within: float = WAIT
    ) -> IrcMessage:
        """The next message that ``match`` (a command or numeric, or a predicate)
        accepts; the ones before it are kept in :attr:`seen`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no {match!r} within {within} s; seen: {self.seen[-15:]}")
            text = await self.line(left)
            message = parse(text)
            if (message.command == match) if isinstance(match, str) else match(message):
                return message

    async def join(self, channel: str) -> None:
        """Join ``channel`` and wait for the end of its names."""
        await self.send(f"JOIN {channel}")
        await self.expect(lambda m: m.command == "366" and channel in m.params)

    async def until(self, command: str, within: float = WAIT) -> list[IrcMessage]:
        """Every message up to and including the next ``command``."""
        got: list[IrcMessage] = []
        while True:
            message = await self.expect(lambda m: True, within)
            got.append(message)
            if message.command == command:
                return got

    async def quiet(self, within: float = 0.3) -> list[str]:
        """What arrives within ``within`` seconds (to show nothing more came)."""
        got: list[str] = []
        with contextlib.suppress(TimeoutError):
            while True:
                got.append(await self.line(within))
        return got

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def irc_client(port: int) -> AsyncIterator[IrcClient]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = IrcClient(reader, writer)
    try:
        yield client
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def registered(
    port: int, nick: str, *, caps: str = "", password: str = PASSWORD
) -> AsyncIterator[IrcClient]:
    """A client registered as ``nick`` with its password (and ``caps``, when given),
    past the welcome and the end of the MOTD."""
    async with irc_client(port) as client:
        if caps:
            await client.send("CAP LS 302", f"CAP REQ :{caps}")
        await client.send(f"PASS :{password}", f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        if caps:
            acked = await client.expect(
                lambda m: m.command == "CAP" and m.param(1) in ("ACK", "NAK")
            )
            assert acked.param(1) == "ACK", acked
            await client.send("CAP END")
        await client.expect("001")
        await client.expect(lambda m: m.command in ("376", "422"))
        yield client


def numeric(code: str) -> Callable[[IrcMessage], bool]:
    return lambda m: m.command == code


ANY_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
