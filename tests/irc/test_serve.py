"""``homer serve --irc-port`` (the pinned flag): a real server process that IRC
clients reach, and that says where it listens."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.irc.lines import irc_client
from tests.server.test_process import free_port, homer_process, make_user


async def test_homer_serve_listens_for_irc(tmp_path: Path) -> None:
    make_user(tmp_path, "alice")
    port, irc_port = free_port(), free_port()
    async with homer_process(tmp_path, port, "--irc-port", str(irc_port)) as process:
        assert process.stderr is not None
        announced = await asyncio.wait_for(process.stderr.readline(), 10)
        assert f"IRC on 127.0.0.1:{irc_port}" in announced.decode()
        async with irc_client(irc_port) as client:
            await client.send("PASS :a-good-password", "NICK alice", "USER a 0 * :A")
            welcome = await client.expect("001")
            assert welcome.params[0] == "alice"
            await client.send("QUIT :done")
            await client.expect("ERROR")
