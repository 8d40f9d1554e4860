"""What one connection may have outstanding is bounded: a client that asks and
never reads stops being read (TCP's own back-pressure), and a reply that would
pass ``limits.send_queue`` closes it as too slow, as a delivery does."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import cast

from homer.testing.server import TestServer, replace_config, running_homer
from tests.server.rawws import RawWebSocket, client_frame

PAGE = 200  # messages of a history page
#: No request limits: the room fills at once, and the limits are not what is tested.
UNLIMITED = {"rate": 1e6, "burst": 1e6, "user_rate": 1e6, "user_burst": 1e6}
TEXT = "x" * 7_000  # about 1.4 MB a page


async def hoarder_of_a_big_room(server: TestServer) -> RawWebSocket:
    """A member of a room of 200 long messages that has stopped reading."""
    writer = await server.client("writer")
    await writer.create("big")
    await asyncio.gather(*(writer.send("big", TEXT) for _ in range(PAGE)))
    hoarder = await RawWebSocket.connect(
        server.running.host, server.running.port, receive_buffer=4096
    )
    await hoarder.send_json({"op": "hello", "rid": 0, "token": await server.token("reader")})
    await hoarder.reply(0)
    await hoarder.send_json({"op": "join", "rid": 0, "room": "big"})
    await hoarder.reply(0)
    hoarder.writer.transport.pause_reading()
    return hoarder


async def test_a_client_that_asks_and_never_reads_stops_being_served(tmp_path: Path) -> None:
    async with running_homer(
        tmp_path, configure=lambda c: replace_config(c, limits=UNLIMITED)
    ) as server:
        hoarder = await hoarder_of_a_big_room(server)
        before = server.app.metrics.requests.value
        ask = b"".join(
            client_frame(b'{"op":"history","rid":%d,"room":"big","limit":%d}' % (rid, PAGE))
            for rid in range(1, 11)
        )
        sent = 0
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(3):
                for _ in range(200):  # 2,000 requests, never a reply read
                    hoarder.writer.write(ask)
                    await hoarder.writer.drain()
                    sent += 10
                    await asyncio.sleep(0.005)  # the server shares this event loop
        served = server.app.metrics.requests.value - before
        # Each unread page is ~1.4 MB: the server stops reading once what waits for
        # the client passes its transport's high-water mark, so it has taken in
        # only the requests that arrived with the first few pages.
        assert served <= 100, (served, sent)
        assert sent > served
        hoarder.writer.transport.abort()


async def test_replies_count_against_the_send_queue(tmp_path: Path) -> None:
    async with running_homer(
        tmp_path,
        configure=lambda c: replace_config(c, limits={**UNLIMITED, "send_queue": 1_000_000}),
    ) as server:
        hoarder = await hoarder_of_a_big_room(server)
        slow = server.app.metrics.slow_consumers._value.get()
        # Forty pages (56 MB) in one write: all read at once, before the server can
        # pause; the kernel's socket buffers take a few megabytes of them at most.
        await hoarder.send_raw(
            b"".join(
                client_frame(b'{"op":"history","rid":%d,"room":"big","limit":%d}' % (rid, PAGE))
                for rid in range(1, 41)
            )
        )
        (peer,) = [
            peer
            for peer in server.app.peers
            if peer.session is not None and peer.session.user.name == "reader"
        ]
        transport = cast(asyncio.Transport, getattr(peer, "transport", None))
        most = 0
        async with asyncio.timeout(20):
            while not peer.lifecycle.ended:
                most = max(most, transport.get_write_buffer_size())
                await asyncio.sleep(0.002)
        # Closed as too slow once its unread replies passed the queue: at most the
        # queue and the page that passed it wait, not forty pages.
        assert server.app.metrics.slow_consumers._value.get() == slow + 1
        assert most <= 1_000_000 + 2 * len(TEXT) * PAGE, most
        hoarder.writer.transport.abort()
