"""``homer serve --irc-port`` (the pinned flag): a real server process that IRC
clients reach, and that says where it listens."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.irc.lines import irc_client
from tests.server.test_process import CHEAP, free_port, make_user, wait_until_listening


async def test_homer_serve_listens_for_irc(tmp_path: Path) -> None:
    make_user(tmp_path, "alice")
    port, irc_port = free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOMER_")}, **CHEAP}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "homer", "serve", "--port", str(port), "--irc-port", str(irc_port)),
        *("--data-dir", str(tmp_path)),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_until_listening(process, irc_port, within=20)
        async with irc_client(irc_port) as client:
            await client.send("PASS :a-good-password", "NICK alice", "USER a 0 * :A")
            welcome = await client.expect("001")
            assert welcome.params[0] == "alice"
            await client.send("QUIT :done")
            await client.expect("ERROR")
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), 15)
    assert f"IRC on 127.0.0.1:{irc_port}" in err.decode()
