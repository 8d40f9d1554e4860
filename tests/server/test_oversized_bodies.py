"""Oversized HTTP bodies are refused with 413 as soon as the limit is passed:
the server neither waits for nor buffers the rest of a body declared huge."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from homer.config import HomerConfig
from homer.testing.server import TestServer, replace_config, running_homer

DECLARED = 500_000_000  # what the client claims it will send
SENT = 200_000  # what it actually sends: about three times limits.max_frame

PATHS = ["/api/login", "/api/register", "/api/rooms/lobby/messages", "/api/ops/send", "/api/queues"]


async def refused_early(server: TestServer, path: str, *, chunked: bool) -> tuple[bytes, float]:
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    token = await server.token("alice")
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {DECLARED}"
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\n{length}\r\n\r\n".encode()
    )
    body = b"[" + b"1," * (SENT // 2)
    if chunked:
        body = b"%x\r\n%s\r\n" % (len(body), body)
    started = asyncio.get_running_loop().time()
    writer.write(body)  # and never the rest
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    return head, asyncio.get_running_loop().time() - started


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_every_body_taking_endpoint_refuses_a_huge_body_at_once(
    tmp_path: Path, chunked: bool
) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        for path in PATHS:
            head, took = await refused_early(server, path, chunked=chunked)
            assert head.startswith(b"HTTP/1.1 413"), (path, head[:80])
            assert b"application/json" in head, (path, head)
            assert took < 3, (path, took)
        # Nothing was stored, and the server still answers.
        assert [m for m in await alice.history("lobby") if m.kind == "msg"] == []
        await alice.send("lobby", "still here")


async def test_a_client_leaving_mid_body_is_not_logged_as_a_server_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_homer(tmp_path) as server:
        token = await server.token("alice")
        host, port = server.url.removeprefix("http://").split(":")
        for path in PATHS:
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                f'Content-Length: 100\r\n\r\n{{"a'.encode()
            )
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.close()
        await asyncio.sleep(0.3)
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as answer:
            assert answer.status == 200


async def test_a_body_that_dribbles_in_is_cut_off_after_the_handshake_timeout(
    tmp_path: Path,
) -> None:
    def quick(config: HomerConfig) -> HomerConfig:
        return replace_config(config, limits={"handshake_timeout": 0.5})

    async with running_homer(tmp_path, configure=quick) as server:
        token = await server.token("alice")
        host, port = server.url.removeprefix("http://").split(":")
        for path in PATHS:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode()
            )
            started = asyncio.get_running_loop().time()

            async def dribble(writer: asyncio.StreamWriter = writer) -> None:
                for _ in range(100):
                    writer.write(b" ")
                    await asyncio.sleep(0.05)

            sending = asyncio.create_task(dribble())
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            finally:
                sending.cancel()
                writer.close()
            assert head.startswith(b"HTTP/1.1 408"), (path, head[:60])
            assert asyncio.get_running_loop().time() - started < 2, path


#: A length no route takes, announced with no body behind it.
HUGE = 1_000_000_000_000


async def announced(
    server: TestServer, path: str, token: str, *, expect: bool, media: str = "application/json"
) -> bytes:
    """What the server sends, within 3 s, to a request head announcing ``HUGE`` bytes
    and no byte of the body."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    expecting = "Expect: 100-continue\r\n" if expect else ""
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {media}\r\n{expecting}Content-Length: {HUGE}\r\n\r\n".encode()
    )
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    finally:
        writer.close()


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100-continue"])
async def test_a_length_past_the_limit_is_refused_before_any_body(
    tmp_path: Path, expect: bool
) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        token = await server.token("alice")
        for path in [*PATHS, "/api/token/refresh", "/api/session", "/no/such/route"]:
            head = await announced(server, path, token, expect=expect)
            assert head.startswith(b"HTTP/1.1 413"), (path, head[:80])
            assert b"application/json" in head, (path, head)
            assert b"100 Continue" not in head, path
        # An upload has a limit of its own (files.max_size), refused the same way.
        head = await announced(server, "/api/files", token, expect=expect, media="image/png")
        assert head.startswith(b"HTTP/1.1 413"), head[:80]


async def test_a_length_within_the_limit_gets_100_continue(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        token = await server.token("alice")
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        body = b'{"name": "alice", "password": "wrong password"}'
        writer.write(
            f"POST /api/login HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nExpect: 100-continue\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        try:
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
            assert interim.startswith(b"HTTP/1.1 100 Continue")
            writer.write(body)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        finally:
            writer.close()
        assert head.startswith(b"HTTP/1.1 401"), head[:80]
