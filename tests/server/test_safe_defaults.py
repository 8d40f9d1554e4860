"""Safe defaults found by a security review: the data directory is the owner's
alone, and no answer may be sniffed, nor an API answer cached."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import aiohttp

from homer.config import HomerConfig
from homer.core.app import Homer
from homer.identity.passwords import Argon2Params
from homer.testing.server import running_homer
from tests.server.test_process import free_port, homer_process


async def test_a_new_data_directory_is_the_owners_alone(tmp_path: Path) -> None:
    data = tmp_path / "deep" / "data"
    app = Homer(HomerConfig(data_dir=str(data)), password_params=Argon2Params.cheap())
    await app.start()
    try:
        mode = stat.S_IMODE(data.stat().st_mode)
        assert mode == 0o700, oct(mode)
        for path in data.rglob("*"):
            assert not stat.S_IMODE(path.stat().st_mode) & 0o077, path
    finally:
        await app.stop()


async def test_answers_are_not_sniffed_and_api_answers_not_cached(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        token = await server.token("alice")
        bearer = {"Authorization": f"Bearer {token}"}
        for method, path, headers in (
            ("GET", "/api/me", bearer),
            ("GET", "/api/rooms/nowhere", bearer),  # an error
            ("POST", "/api/login", {}),  # a refused body
            ("GET", "/api/openapi.json", {}),
        ):
            async with http.request(method, server.url + path, headers=headers) as answer:
                assert answer.headers["X-Content-Type-Options"] == "nosniff", path
                assert answer.headers["Cache-Control"] == "no-store", path
        async with http.get(server.url + "/healthz") as health:
            assert health.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_method_a_path_does_not_take_is_405_with_allow(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        token = await server.token("alice")
        bearer = {"Authorization": f"Bearer {token}"}
        for method, path, allowed in (
            ("DELETE", "/api/me", "GET, HEAD, PATCH"),
            ("PUT", "/api/rooms/lobby/messages", "DELETE, GET, HEAD, POST"),
            ("POST", "/healthz", "GET, HEAD"),
            ("GET", "/api/login", "POST"),
        ):
            async with http.request(method, server.url + path, headers=bearer) as answer:
                assert answer.status == 405, (method, path)
                assert answer.headers["Allow"] == allowed, (method, path)
                body = await answer.json()
                assert body["code"] == "method_not_allowed"
        async with http.get(server.url + "/api/nothing-here", headers=bearer) as missing:
            assert missing.status == 404  # no such path at all


async def test_no_log_line_carries_a_header_value(tmp_path: Path) -> None:
    """An oversized Authorization header makes aiohttp log an error quoting the
    bytes it choked on: the node logs the error without them."""
    port = free_port()
    secret = "S3CRET" * 3000
    async with homer_process(tmp_path / "data", port) as process:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = f"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {secret}\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        assert (await reader.read(12)).startswith(b"HTTP/1.")
        writer.close()
        await asyncio.sleep(0.5)  # the node writes its log line
        process.terminate()
        assert process.stderr is not None
        logged = (await asyncio.wait_for(process.stderr.read(), 30)).decode()
    assert "S3CRET" not in logged
    assert "its text is not logged" in logged
