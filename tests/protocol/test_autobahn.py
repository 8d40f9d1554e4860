"""Conformance: the Autobahn cases against a minimal echo server built on the sans-I/O core.

The server is a test harness, not Homer's transport: it reads the request head
by hand, answers with ``handshake_response``, then pumps bytes through
``FrameParser`` and echoes what it is sent, which is what the cases expect.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import kosoku
import pytest
from kosoku import FailureError, run_fuzzingclient

from homer.protocol.websocket import (
    BinaryMessage,
    CloseReceived,
    Event,
    FrameParser,
    HandshakeError,
    Ping,
    TextMessage,
    WebSocketError,
    binary_frame,
    check_upgrade,
    close_frame,
    handshake_response,
    pong_frame,
    text_frame,
)

CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]
ACCEPTABLE = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"}


class EchoProtocol(asyncio.Protocol):
    """Echo every message with its type, answer pings, and end the close handshake."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.request = b""
        self.parser: FrameParser | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if transport.is_closing():
            return
        if self.parser is None:
            self.request += data
            head, found, data = self.request.partition(b"\r\n\r\n")
            if not found:
                return
            self.request = b""
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            try:
                key = check_upgrade(request_line.split(" ")[0], headers)
            except HandshakeError as error:
                transport.write(error.response())
                transport.close()
                return
            transport.write(handshake_response(key))
            self.parser = FrameParser()
            if not data:
                return
        try:
            events = self.parser.feed(data)
        except WebSocketError as error:
            # Deliver what was valid before the violation, then fail the connection.
            if self.answer(error.events):
                transport.write(close_frame(error.close_code))
                transport.close()
            return
        self.answer(events)

    def answer(self, events: Iterable[Event]) -> bool:
        """Answer each event; return whether the connection is still open."""
        transport = self.transport
        assert transport is not None
        for event in events:
            if isinstance(event, TextMessage):
                transport.write(text_frame(event.data))
            elif isinstance(event, BinaryMessage):
                transport.write(binary_frame(event.data))
            elif isinstance(event, Ping):
                transport.write(pong_frame(event.payload))
            elif isinstance(event, CloseReceived):
                transport.write(close_frame(event.code or 1000))
                transport.close()  # the server drops TCP first, once the frame is out
                return False
        return True


@pytest.fixture
def no_leftover_shims() -> Iterator[None]:
    """Undo what kosoku leaves behind: its case folders on ``sys.path`` and, imported
    from them, stand-ins for ``pkg_resources`` and ``autobahn`` that later tests would get.
    """
    path = list(sys.path)
    modules = set(sys.modules)
    yield
    sys.path[:] = path
    folders = [Path(kosoku.__file__).parent / name for name in ("cases", "shim")]
    for name in set(sys.modules) - modules:
        origin = getattr(sys.modules[name], "__file__", None) or ""
        ours = name.partition(".")[0] == "kosoku"
        if not ours and any(Path(origin).is_relative_to(folder) for folder in folders):
            del sys.modules[name]


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("no_leftover_shims")
async def test_autobahn_cases_pass() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        try:
            results = await run_fuzzingclient(f"ws://127.0.0.1:{port}", cases=CASES, concurrency=8)
        except FailureError as failure:
            results = failure.results
    finally:
        server.close()
        await server.wait_closed()
    assert results, "kosoku ran no case"
    failed = sorted(
        (r.case_id for r in results
         if r.behavior.value not in ACCEPTABLE or r.behavior_close.value not in ACCEPTABLE),
        key=lambda case_id: [int(part) for part in case_id.split(".")],
    )  # fmt: skip
    details = {
        r.case_id: (r.behavior.value, r.behavior_close.value, r.result, r.result_close)
        for r in results
        if r.case_id in failed
    }
    summary = Counter(r.behavior.value for r in results)
    assert not failed, (
        f"{len(failed)} of {len(results)} cases failed ({summary}): {', '.join(failed)}\n{details}"
    )
