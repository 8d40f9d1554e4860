"""What a browser may ask (:mod:`homer.transports.browsers`): a hostile page that
rebinds its name to this server, or posts to it from its own origin, is refused
on every listener; configured origins get CORS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from homer.testing.server import replace_config, running_homer


async def raw_request(port: int, head: str) -> bytes:
    """Send one request head; the whole answer (the server closes after a refusal)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    try:
        async with asyncio.timeout(10):
            return await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()


async def test_a_rebound_name_is_refused_on_every_path(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        port = server.running.port
        upgrade = await raw_request(
            port,
            "GET /ws HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        assert upgrade.startswith(b"HTTP/1.1 400"), upgrade
        events = await raw_request(port, "GET /api/events HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        assert events.startswith(b"HTTP/1.1 400"), events
        for method, path in (("GET", "/"), ("GET", "/healthz"), ("POST", "/api/register")):
            async with http.request(
                method, server.url + path, headers={"Host": "evil.example:80"}, json={}
            ) as answer:
                assert answer.status == 400, (method, path)
                assert "Host" in (await answer.json())["message"]
        # The names a browser may use here: addresses, localhost, the host setting.
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "app.localhost", f"[::1]:{port}"):
            async with http.get(server.url + "/healthz", headers={"Host": host}) as answer:
                assert answer.status == 200, host


async def test_configured_names_and_the_public_url_are_answered(tmp_path: Path) -> None:
    def named(config):  # type: ignore[no-untyped-def]
        return replace_config(
            config,
            server={"hosts": ["chat.internal"], "public_url": "https://chat.example.com"},
        )

    async with running_homer(tmp_path, configure=named) as server, aiohttp.ClientSession() as http:
        for host, status in (
            ("chat.internal", 200),
            ("CHAT.example.com:443", 200),
            ("chat.example.com.", 200),
            ("evil.example", 400),
            ("chat.internal.evil.example", 400),
        ):
            async with http.get(server.url + "/healthz", headers={"Host": host}) as answer:
                assert answer.status == status, host
        # A page of the public URL is this server's own, whatever Host the proxy passed.
        async with http.post(
            server.url + "/api/login",
            headers={"Origin": "https://chat.example.com"},
            json={"name": "nobody", "password": "not the password"},
        ) as answer:
            assert answer.status == 401


async def test_a_cross_origin_change_is_refused_before_it_runs(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        form = {"name": "mallory", "password": "a long enough password"}
        for origin in (
            "http://evil.example",
            "null",
            f"http://127.0.0.1:{server.running.port + 1}",
        ):
            async with http.post(
                server.url + "/api/register", data=form, headers={"Origin": origin}
            ) as answer:
                assert answer.status == 403, origin
                assert (await answer.json())["code"] == "forbidden"
        token = await server.token("alice")
        async with http.delete(
            server.url + "/api/me/tokens",
            headers={"Origin": "http://evil.example", "Authorization": f"Bearer {token}"},
        ) as answer:
            assert answer.status == 403
        # Nothing was created: the name is free, and alice's token still works.
        async with http.get(
            server.url + "/api/me", headers={"Authorization": f"Bearer {token}"}
        ) as answer:
            assert answer.status == 200
        async with http.post(server.url + "/api/register", json=form) as answer:
            assert answer.status in (200, 201), await answer.text()
        # A page this server served may post; so may a program, which sends no Origin.
        own = f"http://127.0.0.1:{server.running.port}"
        async with http.post(
            server.url + "/api/login", json=form, headers={"Origin": own}
        ) as answer:
            assert answer.status == 200
        # A cross-origin read runs, but the page may not read it: no CORS header.
        async with http.get(
            server.url + "/healthz", headers={"Origin": "http://evil.example"}
        ) as answer:
            assert answer.status == 200
            assert "Access-Control-Allow-Origin" not in answer.headers


async def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    app_origin = "https://app.example"

    def configured(config):  # type: ignore[no-untyped-def]
        return replace_config(config, server={"origins": [app_origin]})

    async with (
        running_homer(tmp_path, configure=configured) as server,
        aiohttp.ClientSession() as http,
    ):
        asked = {"Access-Control-Request-Method": "POST"}
        async with http.options(
            server.url + "/api/login", headers={"Origin": app_origin, **asked}
        ) as answer:
            assert answer.status == 204
            assert answer.headers["Access-Control-Allow-Origin"] == app_origin
            assert "POST" in answer.headers["Access-Control-Allow-Methods"]
            assert "Authorization" in answer.headers["Access-Control-Allow-Headers"]
        async with http.options(
            server.url + "/api/login", headers={"Origin": "http://evil.example", **asked}
        ) as answer:
            assert answer.status == 403
            assert "Access-Control-Allow-Origin" not in answer.headers
        token = await server.token("alice")
        async with http.get(
            server.url + "/api/me",
            headers={"Origin": app_origin, "Authorization": f"Bearer {token}"},
        ) as answer:
            assert answer.status == 200
            assert answer.headers["Access-Control-Allow-Origin"] == app_origin
            assert "Origin" in answer.headers["Vary"]
        async with http.delete(
            server.url + "/api/me/tokens",
            headers={"Origin": app_origin, "Authorization": f"Bearer {token}"},
        ) as answer:
            assert answer.status != 403
