"""The message view: older history loaded as you scroll up, day separators,
emoticons and their completion in the input, and the status line through a
lost connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Static

from homer.chat.widgets import ConnectionState
from homer.testing.server import TestServer
from tests.chat.helpers import SIZE, lines, make_app, shown, status, type_text, until


async def test_scrolling_up_loads_older_history(server: TestServer, tmp_path: Path) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    for n in range(120):
        await alice_sdk.send("lobby", f"message {n:03}")
    app = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        room = app.rooms["lobby"]
        assert len(room.messages) == 50
        assert room.more_before
        assert shown(app, "message 119")
        assert not shown(app, "message 069")
        await until(lambda: app.view.scroll_y > 0, pilot, "at the bottom")

        while room.more_before:
            count = len(room.messages)
            await pilot.press("pageup")
            await until(lambda n=count: len(room.messages) > n or app.view.scroll_y > 0, pilot)
        await until(lambda: shown(app, "message 000"), pilot, "the whole history")
        assert [m.body["text"] for m in room.messages] == [f"message {n:03}" for n in range(120)]
        assert shown(app, "The beginning of #lobby")
        # What was on screen stays on screen: the view did not jump to the bottom.
        assert app.view.scroll_y < app.view.max_scroll_y
        # One day separator above the first message of the day, not one per page.
        assert sum(line.startswith("── ") and "──" in line[3:] for line in lines(app)) == 1


async def test_reaching_the_top_by_scrolling_loads_older_history(
    server: TestServer, tmp_path: Path
) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    for n in range(60):
        await alice_sdk.send("lobby", f"message {n:03}")
    app = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        room = app.rooms["lobby"]
        await until(lambda: app.view.scroll_y > 0, pilot, "at the bottom")
        assert len(room.messages) == 50
        app.view.scroll_home(animate=False)  # as the mouse wheel or the scrollbar leave it
        await until(lambda: len(room.messages) == 60, pilot, "the older ten")
        assert not room.more_before


async def test_emoticons_are_shown_and_completed(server: TestServer, tmp_path: Path) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    app = await make_app(server, "alice", tmp_path, emoticons={"coffee": "c[_]"})
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        await type_text(pilot, "so :shr")
        hints = app.part("#completions", Static)
        assert ":shrug: ¯\\_(ツ)_/¯" in str(hints.render())
        await pilot.press("tab")
        assert app.input.text == "so :shrug:"
        await type_text(pilot, " and :cof")
        await pilot.press("tab")
        assert app.input.text == "so :shrug: and :coffee:"
        await pilot.press("enter")
        await until(lambda: shown(app, "alice: so ¯\\_(ツ)_/¯ and c[_]"), pilot)
        # The message is stored as typed: other clients expand it their way.
        stored = await alice_sdk.history("lobby")
        assert stored[-1].body["text"] == "so :shrug: and :coffee:"


async def test_the_status_line_follows_the_connection(server: TestServer, tmp_path: Path) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    app = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        assert "● online" in status(app)
        client = app.client
        assert client is not None
        link = client.transport
        assert link is not None
        # The network goes away: the SDK tries again and again, and the line says so.
        back = asyncio.Event()
        reopen = client._open

        async def refused() -> None:
            if not back.is_set():
                raise OSError("the network is down")
            await reopen()

        client._open = refused  # type: ignore[method-assign]
        link.abort()
        await until(lambda: "reconnecting…" in status(app), pilot, "reconnecting shown")
        back.set()
        await until(lambda: client.reconnects >= 1, pilot, "reconnected by the SDK")
        await until(lambda: "● online" in status(app), pilot, "online again")
        await alice_sdk.send("lobby", "after the drop")
        await until(lambda: shown(app, "alice: after the drop"), pilot)


async def test_the_status_line_can_say_offline_with_a_queue(
    server: TestServer, tmp_path: Path
) -> None:
    app = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        app.set_connection(ConnectionState("offline", queued=3))
        assert "offline, 3 queued" in status(app)
