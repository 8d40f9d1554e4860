"""Moving between rooms with keys: Ctrl+N / Ctrl+P, Alt+1..9, and the fuzzy
switcher (Ctrl+K, type to filter, Enter)."""

from __future__ import annotations

from pathlib import Path

from homer.chat.screens import RoomSwitcher
from homer.testing.server import TestServer
from tests.chat.helpers import SIZE, enter, make_app, room_list, status, until


async def test_keys_move_between_rooms_and_dms(server: TestServer, tmp_path: Path) -> None:
    alice = await server.client("alice")
    for room in ("general", "random", "engineering"):
        await alice.create(room)
    await server.user("bob")
    await alice.dm("bob")
    app = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        assert app.current == "engineering"  # rooms by name, then the DMs
        assert "@bob" in room_list(app)

        await pilot.press("ctrl+n")
        await until(lambda: app.current == "general", pilot)
        assert "#general" in status(app)
        await pilot.press("ctrl+p", "ctrl+p")
        await until(lambda: app.current is not None and app.current.startswith("dm-"), pilot)

        await pilot.press("alt+3")
        await until(lambda: app.current == "random", pilot)
        await pilot.press("alt+9")  # no ninth room: nothing happens
        await pilot.pause()
        assert app.current == "random"

        await pilot.press("ctrl+k")
        await until(lambda: isinstance(app.screen, RoomSwitcher), pilot, "the switcher")
        await enter(pilot, "gnrl")
        await until(lambda: app.current == "general", pilot, "switched by fuzzy name")
        assert not isinstance(app.screen, RoomSwitcher)

        await pilot.press("ctrl+k")
        await until(lambda: isinstance(app.screen, RoomSwitcher), pilot)
        await enter(pilot, "@b")
        await until(lambda: app.current is not None and app.current.startswith("dm-"), pilot)

        await pilot.press("ctrl+k")
        await until(lambda: isinstance(app.screen, RoomSwitcher), pilot)
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, RoomSwitcher), pilot)
        assert app.current is not None
        assert app.current.startswith("dm-")
        assert app.focused is app.input
