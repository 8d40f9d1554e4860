"""Homer mounted in a Starlette application through the ASGI adapter, served by
uvicorn on 127.0.0.1: the transport conformance kit over WebSocket (both codecs),
Server-Sent Events and long-poll (requests as ``/api/ops`` over HTTP), then what
only the adapter does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from homer.client import HomerClient
from homer.config import HomerConfig
from homer.core.app import Homer
from homer.identity.passwords import Argon2Params
from homer.node.asgi import asgi_app
from homer.testing.broker_conformance import wait_until
from homer.testing.server import issue_token, replace_config
from homer.testing.transport_conformance import (
    BUILT_IN,
    Combination,
    TransportConformance,
    TransportKit,
    quick_presence,
)
from tests.conformance.uvicorn_host import serving
from tests.server.rawws import OPEN, RawWebSocket

#: What a client reaches through the adapter: every transport of the HTTP port.
OVER_ASGI = tuple(c for c in BUILT_IN if c.transport != "tcp")
#: For each, another one to put a second member on.
OTHER = {
    "websocket": next(c for c in OVER_ASGI if c.id == "longpoll-json"),
    "sse": next(c for c in OVER_ASGI if c.id == "ws-json"),
    "longpoll": next(c for c in OVER_ASGI if c.id == "ws-msgpack"),
}


def make_homer(tmp_path: Path, **limits: Any) -> Homer:
    config = quick_presence(HomerConfig(data_dir=str(tmp_path)))
    return Homer(replace_config(config, limits=limits), password_params=Argon2Params.cheap())


def host_app(homer: Homer) -> Starlette:
    """A host application with a route of its own, and Homer under ``/chat``."""
    chat = asgi_app(homer)

    async def status(_: Request) -> JSONResponse:
        return JSONResponse({"connections": len(homer.peers)})

    return Starlette(
        routes=[Route("/status", status), Mount("/chat", app=chat)], lifespan=chat.lifespan
    )


class TestThroughASGI(TransportConformance):
    @pytest_asyncio.fixture(params=OVER_ASGI, ids=[c.id for c in OVER_ASGI])
    async def kit(
        self, request: pytest.FixtureRequest, tmp_path: Path
    ) -> AsyncIterator[TransportKit]:
        homer = make_homer(tmp_path)
        async with serving(host_app(homer)) as base:
            over: Combination = request.param
            kit = TransportKit(homer, over, OTHER[over.transport], lambda _: base + "/chat")
            try:
                yield kit
            finally:
                await kit.aclose()


async def test_the_host_keeps_its_routes_and_homer_answers_under_its_mount(
    tmp_path: Path,
) -> None:
    homer = make_homer(tmp_path)
    async with serving(host_app(homer)) as base, aiohttp.ClientSession() as http:
        alice = HomerClient(base + "/chat", token=await issue_token(homer, "alice"))
        await alice.connect()
        async with http.get(base + "/status") as answer:
            assert await answer.json() == {"connections": 1}
        async with http.get(base + "/chat/healthz") as answer:
            assert (answer.status, await answer.json()) == (200, {"status": "ok"})
        async with http.get(base + "/chat/api/nowhere") as answer:
            assert answer.status == 404
            assert (await answer.json())["code"] == "not_found"
        async with http.head(base + "/chat/healthz") as answer:
            assert answer.status == 200
            assert await answer.read() == b""
        await alice.close()


async def test_a_length_past_the_limit_is_refused_before_any_body(tmp_path: Path) -> None:
    homer = make_homer(tmp_path)
    async with serving(host_app(homer)) as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST /chat/api/login HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n".encode()
        )
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        finally:
            writer.close()
        assert head.startswith(b"HTTP/1.1 413"), head[:80]
        assert b"application/json" in head
        async with (
            aiohttp.ClientSession() as http,
            http.post(base + "/chat/api/login", data={"name": "a", "password": "b"}) as answer,
        ):
            assert answer.status == 415
            assert (await answer.json())["code"] == "unsupported_media_type"


async def test_an_upload_has_the_limit_of_files_not_of_frames(tmp_path: Path) -> None:
    homer = make_homer(tmp_path)
    async with serving(host_app(homer)) as base, aiohttp.ClientSession() as http:
        token = await issue_token(homer, "alice")
        body = bytes(range(256)) * 1024  # 256 KiB: four times limits.max_frame
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"}
        async with http.post(base + "/chat/api/files", data=body, headers=headers) as answer:
            info = await answer.json()
            assert answer.status == 201, info
        assert info["size"] == len(body)
        async with http.get(f"{base}/chat/api/files/{info['id']}", headers=headers) as answer:
            assert await answer.read() == body


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/chat/ws", {"Sec-WebSocket-Protocol": "homer.cbor"}, 400),
        ("/chat/ws", {"Origin": "https://elsewhere.example"}, 403),
        ("/chat/ws", {"Host": "evil.example", "Origin": "http://evil.example"}, 400),
        ("/chat/elsewhere", {}, 404),
    ],
)
async def test_a_refused_websocket_gets_the_status_homer_answers(
    tmp_path: Path, path: str, headers: dict[str, str], status: int
) -> None:
    async with serving(host_app(make_homer(tmp_path))) as base, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(base.replace("http", "ws") + path, headers=headers)
        assert refused.value.status == status


async def test_a_consumer_that_falls_too_far_behind_is_closed_with_4008(tmp_path: Path) -> None:
    """Served alone (the adapter answers the lifespan itself), at the root: one
    member stops reading; its queue passes ``send_queue`` and it alone is closed."""
    unlimited = {"rate": 1e6, "burst": 1e6, "user_rate": 1e6, "user_burst": 1e6}
    # The queue counts what the ASGI server has not taken yet: a burst of 20 sends
    # waits there whole, so the bound sits above one burst.
    homer = make_homer(tmp_path, send_queue=256 * 1024, **unlimited)
    async with serving(asgi_app(homer)) as base:
        host, port = base.removeprefix("http://").split(":")
        sender = HomerClient(base, token=await issue_token(homer, "sender"))
        reader = HomerClient(base, token=await issue_token(homer, "reader"), codec="msgpack")
        await sender.connect()
        await reader.connect()
        await sender.create("firehose")
        await reader.join("firehose")
        stalled = await RawWebSocket.connect(host, int(port), receive_buffer=4096)
        OPEN.remove(stalled)  # closed here, in this test's event loop
        try:
            await stall_and_flood(homer, sender, reader, stalled)
        finally:
            stalled.abort()
        await sender.close()
        await reader.close()


async def stall_and_flood(
    homer: Homer, sender: HomerClient, reader: HomerClient, stalled: RawWebSocket
) -> None:
    """``stalled`` joins and stops reading; ``sender`` floods the room until it is
    closed as too slow, while ``reader`` keeps up."""
    await stalled.send_json({"op": "hello", "rid": 1, "token": await issue_token(homer, "s")})
    await stalled.reply(1)
    await stalled.send_json({"op": "join", "rid": 2, "room": "firehose"})
    await stalled.reply(2)
    stalled.writer.transport.pause_reading()
    slow = homer.metrics.slow_consumers
    sent = 0
    async with asyncio.timeout(60):
        while slow._value.get() < 1:
            await asyncio.gather(*(sender.send("firehose", "x" * 7000) for _ in range(20)))
            sent += 20
    stalled.writer.transport.resume_reading()
    assert await stalled.close_code() == 4008
    # The others got every message, on the same connection.
    seen = 0
    async with asyncio.timeout(30):
        while seen < sent:
            event = await reader.events.get()
            seen += event.op == "msg" and event.kind == "msg"
    assert reader.reconnects == 0
    await wait_until(lambda: len(homer.peers) == 2)
