"""`homer serve` as a real process: clean shutdown, and no acknowledged message
lost when it is killed outright."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homer.client import ClientError, ConnectionLost, HomerClient
from tests.server.rawws import RawWebSocket

CHEAP = {
    "HOMER_IDENTITY_PASSWORDS_TIME_COST": "1",
    "HOMER_IDENTITY_PASSWORDS_MEMORY_COST_KIB": "256",
    "HOMER_IDENTITY_PASSWORDS_PARALLELISM": "1",
    "HOMER_LIMITS_RATE": "100000",
    "HOMER_LIMITS_BURST": "100000",
    "HOMER_LIMITS_USER_RATE": "100000",
    "HOMER_LIMITS_USER_BURST": "100000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until_listening(
    process: asyncio.subprocess.Process, port: int, *, within: float = 30
) -> None:
    """Until ``port`` on 127.0.0.1 accepts a connection; fails if ``process`` exits first."""
    async with asyncio.timeout(within):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return


@contextlib.asynccontextmanager
async def homer_process(
    data_dir: Path, port: int, *options: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``homer serve`` on ``port`` (and ``options``), until the block ends."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOMER_")}, **CHEAP}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "homer", "serve", "--port", str(port), "--data-dir", str(data_dir), *options),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_until_listening(process, port, within=20)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 10)


def make_user(data_dir: Path, name: str) -> str:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOMER_")}, **CHEAP}
    run = [sys.executable, "-m", "homer"]
    subprocess.run(
        [*run, "user", "add", name, "--password-stdin", "--data-dir", str(data_dir)],
        input=b"a-good-password\n",
        env=env,
        check=True,
        capture_output=True,
    )
    issued = subprocess.run(
        [*run, "token", "issue", name, "--ttl", "0", "--data-dir", str(data_dir)],
        env=env,
        check=True,
        capture_output=True,
    )
    return issued.stdout.decode().strip()


async def test_sigterm_closes_sessions_and_exits_0(tmp_path: Path) -> None:
    port = free_port()
    token = make_user(tmp_path, "ann")
    async with homer_process(tmp_path, port) as process:
        ws = await RawWebSocket.connect("127.0.0.1", port)
        await ws.send_json({"op": "hello", "rid": 1, "token": token})
        await ws.reply(1)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(ws.close_code(), 10) == 1001
        assert await asyncio.wait_for(process.wait(), 15) == 0
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()
        assert "shutting down" in log
        assert token not in log


@pytest.mark.timeout(180)
async def test_kill_9_loses_no_acknowledged_message(tmp_path: Path) -> None:
    port = free_port()
    token = make_user(tmp_path, "bea")
    url = f"http://127.0.0.1:{port}"
    acked: dict[str, int] = {}
    sent: list[str] = [f"cid-{i:04d}" for i in range(2000)]
    async with homer_process(tmp_path, port) as process:
        client = HomerClient(url, token=token, reconnect=False)
        await client.connect()
        await client.create("log")

        async def sender(cids: list[str]) -> None:
            for cid in cids:
                try:
                    ack = await client.send("log", f"entry {cid}", cid=cid)
                except (ConnectionLost, ClientError):
                    return
                acked[cid] = ack["seq"]

        workers = [asyncio.create_task(sender(sent[i::20])) for i in range(20)]
        async with asyncio.timeout(60):
            while len(acked) < 700:  # noqa: ASYNC110 - filled by the senders
                await asyncio.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.gather(*workers, return_exceptions=True)
        await client.close()
    assert 700 <= len(acked) < 2000

    async with homer_process(tmp_path, port):
        client = HomerClient(url, token=token)
        await client.connect()
        # Every acknowledged message survived; resending everything creates no duplicate.
        for cid in sent:
            ack = await client.send("log", f"entry {cid}", cid=cid)
            if cid in acked:
                assert ack["duplicate"] is True
                assert ack["seq"] == acked[cid]
        stored: list[str] = []
        before = None
        while True:
            page = await client.request("history", room="log", before=before, limit=500)
            stored += [m["cid"] for m in page["messages"] if m["kind"] == "msg"]
            if not page["more"]:
                break
            before = page["messages"][0]["seq"]
        await client.close()
    assert sorted(stored) == sorted(sent), "each message exactly once"
