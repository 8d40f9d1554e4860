"""A fault-injecting TCP proxy: put it between a client and a server (or a node
and its broker) and break the path on purpose::

    async with FaultProxy("127.0.0.1", 5672) as proxy:
        broker_url = proxy.url("amqp://guest:guest@127.0.0.1:5672/")
        ...
        proxy.cut()                  # every open connection drops now
        proxy.refuse = True          # new ones are turned away ...
        await asyncio.sleep(3)
        proxy.refuse = False         # ... until the way is open again
        proxy.stall = True           # bytes stop flowing, connections stay open
        proxy.delay = 0.05           # each chunk waits 50 ms before it goes on
        proxy.drop_after = 10_000    # the next connections drop after 10,000 bytes

Listens on 127.0.0.1 only. Pure asyncio; one task per direction per connection,
which is fine for a test's handful of connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FaultProxy"]


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``host:target_port``, with faults on demand."""

    def __init__(self, host: str, target_port: int) -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        #: Turn new connections away (accept, then close at once).
        self.refuse = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        #: Seconds each chunk waits before it is forwarded.
        self.delay = 0.0
        #: Close a connection once this many bytes (both directions) went through it.
        self.drop_after: int | None = None
        #: Connections accepted so far, and how many were cut by a fault.
        self.accepted = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    @property
    def stall(self) -> bool:
        """While True every byte (both directions) is held; connections stay open."""
        return not self._flowing.is_set()

    @stall.setter
    def stall(self, value: bool) -> None:
        if value:
            self._flowing.clear()
        else:
            self._flowing.set()

    def url(self, url: str) -> str:
        """``url`` (``scheme://user:pass@host:port/...``) through this proxy."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def cut(self) -> int:
        """Drop every open connection, as a crashed peer or a broken network would."""
        links = list(self._links)
        for link in links:
            link.close()
        self.cuts += len(links)
        return len(links)

    @property
    def open_connections(self) -> int:
        return len(self._links)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(self, writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(link.pump(reader, up_writer), link.pump(up_reader, writer))
        finally:
            link.close()
            self._links.discard(link)


class _Link:
    """One proxied connection: both directions and the bytes they carried."""

    def __init__(
        self, proxy: FaultProxy, down: asyncio.StreamWriter, up: asyncio.StreamWriter
    ) -> None:
        self.proxy = proxy
        self.writers = (down, up)
        self.carried = 0

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxy = self.proxy
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while chunk := await reader.read(65_536):
                await proxy._flowing.wait()
                if proxy.delay:
                    await asyncio.sleep(proxy.delay)
                self.carried += len(chunk)
                if proxy.drop_after is not None and self.carried > proxy.drop_after:
                    proxy.cuts += 1
                    break
                writer.write(chunk)
                await writer.drain()
        self.close()

    def close(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
