"""The admin CLI changing accounts beside a running ``homer serve`` on the same data
directory: a refresh sees the change at once, ordinary checks within seconds."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.server.rawws import RawWebSocket
from tests.server.test_process import CHEAP, free_port, homer_process, make_user


async def cli(data_dir: Path, *args: str, stdin: bytes = b"") -> None:
    """Run ``homer ARGS --data-dir DATA_DIR`` as its own process; it must succeed."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOMER_")}, **CHEAP}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "homer", *args, "--data-dir", str(data_dir)),
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode == 0, (args, out, err)


async def refresh(http: aiohttp.ClientSession, port: int, token: str) -> tuple[int, Any]:
    async with http.post(
        f"http://127.0.0.1:{port}/api/token/refresh",
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        return response.status, await response.json()


async def session(port: int, token: str) -> RawWebSocket:
    ws = await RawWebSocket.connect("127.0.0.1", port)
    await ws.send_json({"op": "hello", "rid": 0, "token": token})
    assert (await ws.reply(0))["op"] == "reply"
    return ws


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("command", "stdin"),
    [
        (("token", "revoke-all", "ann"), b""),
        (("user", "passwd", "ann", "--password-stdin"), b"another-good-password\n"),
        (("user", "del", "ann"), b""),
    ],
)
async def test_a_refresh_right_after_the_cli_revokes_is_refused(
    tmp_path: Path, command: tuple[str, ...], stdin: bytes
) -> None:
    port = free_port()
    token = make_user(tmp_path, "ann")
    async with homer_process(tmp_path, port), aiohttp.ClientSession() as http:
        status, before = await refresh(http, port, token)
        assert status == 200, before
        ws = await session(port, token)

        await cli(tmp_path, *command, stdin=stdin)
        # At once, whenever the server last reloaded its revocations: over HTTP,
        # for the old token and for the one refreshed before the change...
        for old in (token, before["token"]):
            status, refused = await refresh(http, port, old)
            assert status == 401, refused
            assert refused["code"] in {"token_revoked", "unauthenticated"}, refused
        # ... and in band, unless the session has been closed already.
        await ws.send_json({"op": "refresh", "rid": 1})
        try:
            answer = await asyncio.wait_for(ws.reply(1), 30)
        except ConnectionResetError as closed:
            assert str(closed).startswith("closed 4001 "), closed
        else:
            assert answer["op"] == "error", answer
            # Ordinary checks follow within seconds: the session is closed...
            assert await asyncio.wait_for(ws.close_code(), 30) == 4001
        # ... and the token no longer opens one.
        again = await RawWebSocket.connect("127.0.0.1", port)
        await again.send_json({"op": "hello", "rid": 0, "token": token})
        assert (await asyncio.wait_for(again.reply(0), 30))["op"] == "error"
