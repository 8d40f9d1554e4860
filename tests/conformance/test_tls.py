"""Every transport over TLS: wss://, tcps://, and https:// for SSE and long-poll."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from homer.client import HomerClient, TransportName
from homer.testing.server import TestServer, replace_config, running_homer
from homer.testing.transport_conformance import next_message
from tests.server.test_tls import make_certificate


@pytest_asyncio.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[TestServer, ssl.SSLContext]]:
    cert, key = make_certificate(tmp_path)

    def configure(config: Any) -> Any:
        return replace_config(
            config, server={"tls_cert": str(cert), "tls_key": str(key), "tcp_port": 0}
        )

    trusting = ssl.create_default_context(cafile=str(cert))
    async with running_homer(tmp_path / "data", configure=configure) as server:
        yield server, trusting


@pytest.mark.parametrize("transport", ["websocket", "tcp", "sse", "longpoll"])
async def test_every_transport_speaks_tls(
    tls_server: tuple[TestServer, ssl.SSLContext], transport: TransportName
) -> None:
    server, trusting = tls_server
    host, port = server.running.host, server.running.port
    url = {
        "websocket": f"wss://{host}:{port}",
        "tcp": f"tcps://{host}:{server.tcp_port}",
    }.get(transport, f"https://{host}:{port}")
    options: dict[str, Any] = {"ssl_context": trusting}
    if transport in ("sse", "longpoll"):
        options["transport"] = transport
    ann = HomerClient(server.url, token=await server.token("ann"), ssl_context=trusting)
    eve = HomerClient(url, token=await server.token("eve"), **options)
    server.clients += [ann, eve]
    await ann.connect()
    await eve.connect()
    assert eve.transport is not None
    assert eve.transport.name == transport
    await ann.create("vault")
    await eve.join("vault")
    ack = await ann.send("vault", "over TLS")
    event = await next_message(eve, "vault")
    assert (event.seq, event.body["text"]) == (ack["seq"], "over TLS")
    assert (await eve.send("vault", "and back"))["seq"] == ack["seq"] + 1
