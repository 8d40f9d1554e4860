"""What the screens look like, as SVG snapshots in ``tests/chat/snapshots``: a
change of layout shows up as a failing test and a diff to look at.

Deterministic: a fixed terminal size, a server and an app on one manual clock
(every timestamp the same), UTC, no blinking cursor, and the server's port
(random) written as ``PORT_``. After a change made on purpose, regenerate with
``HOMER_UPDATE_SNAPSHOTS=1`` and review the SVGs (a browser shows them).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from textual.widgets import Input, TextArea

from homer.chat import ChatApp
from homer.chat.screens import LoginScreen
from homer.clock import ManualClock
from homer.testing.server import TestServer, running_homer
from tests.chat.helpers import SIZE, make_app, room_list, shown, until

SNAPSHOTS = Path(__file__).parent / "snapshots"
CLOCK_START = 1_796_000_000.0  # Monday 30 November 2026, 00:53:20 UTC


@pytest_asyncio.fixture
async def still_server(tmp_path: Path) -> AsyncIterator[tuple[TestServer, ManualClock]]:
    clock = ManualClock(CLOCK_START)
    async with running_homer(tmp_path / "server", clock=clock) as server:
        yield server, clock


def normalised(svg: str, server: TestServer) -> str:
    port = server.url.rsplit(":", 1)[1]
    svg = svg.replace(f"127.0.0.1:{port}", "127.0.0.1:" + "PORT_"[: len(port)].ljust(len(port)))
    return re.sub(r"terminal-\d+", "terminal-ID", svg)


async def compare(app: ChatApp, server: TestServer, name: str) -> None:
    for widget in [*app.screen.query(Input), *app.screen_stack[0].query(TextArea)]:
        widget.cursor_blink = False
    await asyncio.sleep(0)
    svg = normalised(app.export_screenshot(title=name), server)
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("HOMER_UPDATE_SNAPSHOTS") or not path.exists():
        await asyncio.to_thread(path.write_text, svg, encoding="utf-8")
        if not os.environ.get("HOMER_UPDATE_SNAPSHOTS"):
            pytest.fail(f"{path.name} was missing: written, review it and run again")
        return
    expected = await asyncio.to_thread(path.read_text, encoding="utf-8")
    assert svg == expected, f"{name}: the screen changed (HOMER_UPDATE_SNAPSHOTS=1 to accept)"


async def test_the_login_form(still_server: tuple[TestServer, ManualClock]) -> None:
    server, clock = still_server
    app = ChatApp(server.url, tokens=None, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            lambda: isinstance(app.screen, LoginScreen) and bool(app.screen.query("#password")),
            pilot,
            "the form",
        )
        app.screen.query_one("#name", Input).value = "alice"
        app.screen.query_one("#password", Input).focus()
        await pilot.pause()
        await compare(app, server, "login")


async def test_the_chat_screen(
    still_server: tuple[TestServer, ManualClock], tmp_path: Path
) -> None:
    server, clock = still_server
    bob = await server.client("bob")
    await bob.create("lobby", topic="general chat")
    await bob.create("random")
    alice_sdk = await server.client("alice")
    await alice_sdk.join("lobby")
    await alice_sdk.join("random")
    await bob.send("lobby", "hello [bold]alice[/] :wave:")
    await alice_sdk.send("lobby", "hi bob :happy:")
    await alice_sdk.close()
    await bob.send("lobby", "new since you left :shrug:")
    await bob.send("random", "one for later")
    await bob.close()
    app = await make_app(server, "alice", tmp_path, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        await pilot.press("alt+1")
        await until(lambda: app.current == "lobby", pilot)
        await until(lambda: "#random (1)" in room_list(app), pilot)
        await until(lambda: shown(app, "new since you left"), pilot)
        for key in "typing :sh":
            await pilot.press({" ": "space"}.get(key, key))
        await pilot.pause()
        await compare(app, server, "chat")
