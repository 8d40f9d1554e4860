"""Every slash command in the app against a real server, and what the user sees
when one is unknown, malformed or refused: a line in the view, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import Static

from homer.chat import ChatApp
from homer.testing.server import TestServer
from tests.chat.helpers import (
    SIZE,
    enter,
    lines,
    make_app,
    room_list,
    shown,
    status,
    type_text,
    until,
)


async def test_room_commands(server: TestServer, tmp_path: Path) -> None:
    await server.user("bob")
    bob_sdk = await server.client("bob")
    app = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")

        await enter(pilot, "/create plans private")
        await until(lambda: app.current == "plans", pilot, "created and opened")
        assert app.rooms["plans"].kind == "private"

        await enter(pilot, "/topic the secret plans")
        await until(lambda: "the secret plans" in status(app), pilot, "the topic")

        await enter(pilot, "/invite bob")
        await until(lambda: shown(app, "Invited bob to #plans."), pilot)
        await bob_sdk.join("plans")
        await until(lambda: shown(app, "→ bob joined"), pilot)

        await enter(pilot, "/who")
        await until(lambda: shown(app, "In #plans: "), pilot)
        who = next(line for line in lines(app) if line.startswith("In #plans: "))
        assert "alice (online, owner)" in who
        assert "bob (" in who

        await enter(pilot, "/dm bob")
        await until(lambda: app.current is not None and app.current.startswith("dm-"), pilot)
        assert "@bob" in room_list(app)
        await enter(pilot, "psst")
        event = await bob_sdk.next_event("msg", timeout=30)
        while event.body.get("text") != "psst":
            event = await bob_sdk.next_event("msg", timeout=30)

        await enter(pilot, "/join plans")
        await until(lambda: app.current == "plans", pilot)
        await enter(pilot, "/leave")
        await until(lambda: "plans" not in app.rooms, pilot, "left")
        await until(lambda: shown(app, "You left #plans."), pilot)
        assert "#plans" not in room_list(app)

        await enter(pilot, "/help")
        await until(lambda: shown(app, "/history SINCE [UNTIL]"), pilot)
        await enter(pilot, "/quit")
        await until(lambda: app.return_code is not None or not app.is_running, pilot)


async def test_errors_are_told_in_the_view(server: TestServer, tmp_path: Path) -> None:
    owner = await server.client("carol")
    await owner.create("lobby")
    app = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        await enter(pilot, "/leave")
        await until(lambda: shown(app, "not in a room: /join ROOM or /create ROOM first"), pilot)
        await enter(pilot, "/frobnicate now")
        await until(lambda: shown(app, "unknown command /frobnicate: /help lists them"), pilot)
        await enter(pilot, "/create")
        await until(lambda: shown(app, "usage: /create ROOM [private|announce]"), pilot)
        await enter(pilot, "/join nowhere")
        await until(lambda: shown(app, "refused: no room 'nowhere'"), pilot)
        await enter(pilot, "/create Bad")
        await until(lambda: shown(app, "refused: a room id is 1-64 of a-z"), pilot)
        await enter(pilot, "/join lobby")
        await until(lambda: app.current == "lobby", pilot)
        await enter(pilot, "/topic mine now")
        await until(lambda: shown(app, "refused: alice lacks permission 'room.moderate'"), pilot)
        await enter(pilot, "/dm nobody")
        await until(lambda: shown(app, "refused: no user named 'nobody'"), pilot)
        await enter(pilot, "/history soon")
        await until(lambda: shown(app, "'soon' is not a time"), pilot)
        assert app.is_running
        assert app.current == "lobby"


async def test_history_of_a_time_window(server: TestServer, tmp_path: Path) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    for n in range(3):
        await alice_sdk.send("lobby", f"recent {n}")
    app = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        await enter(pilot, "/history 1h")
        await until(lambda: shown(app, "── end of the window ──"), pilot)
        header = next(line for line in lines(app) if line.startswith("── #lobby from "))
        assert header.endswith("to now: 3 messages ──")
        await enter(pilot, "/history 2020-01-01 2020-01-02")
        await until(lambda: shown(app, "to 2020-01-02 00:00: 0 messages ──"), pilot)
        assert datetime.now(UTC).year > 2020


async def test_typing_and_presence_are_shown(server: TestServer, tmp_path: Path) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    await server.user("bob")
    dm = await alice_sdk.dm("bob")
    bob_sdk = await server.client("bob")
    await bob_sdk.join("lobby")
    app: ChatApp = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        await pilot.press("alt+1")
        await until(lambda: app.current == "lobby", pilot)

        # bob types in the lobby: alice sees it, until his message comes.
        await bob_sdk.request("typing", room="lobby")
        typing = app.part("#typing", Static)
        await until(lambda: "bob is typing…" in str(typing.render()), pilot, "typing shown")
        await bob_sdk.send("lobby", "done typing")
        await until(lambda: "bob is typing" not in str(typing.render()), pilot, "typing ends")

        # alice types: bob is told.
        await type_text(pilot, "hel")
        event = await bob_sdk.next_event("typing", timeout=30)
        while event.sender != "alice":
            event = await bob_sdk.next_event("typing", timeout=30)
        assert event.room == "lobby"

        # Presence: the DM shows bob online, then offline when he goes.
        await until(lambda: "● @bob" in room_list(app), pilot, "bob online")
        await bob_sdk.close()
        await until(lambda: "○ @bob" in room_list(app), pilot, "bob offline")
        assert dm["id"] in app.rooms


async def test_being_removed_from_a_room_is_told(server: TestServer, tmp_path: Path) -> None:
    owner = await server.client("carol")
    await owner.create("lobby")
    await owner.create("attic")
    app = await make_app(server, "alice", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "in")
        await enter(pilot, "/join attic")
        await until(lambda: app.current == "attic", pilot)
        await enter(pilot, "/join lobby")
        await until(lambda: app.current == "lobby", pilot)
        await owner.request("kick", room="lobby", user="alice")
        await until(lambda: shown(app, "You were removed from #lobby."), pilot, "told")
        assert "lobby" not in app.rooms
        assert app.current == "attic"
        await owner.send("attic", "still here?")
        await until(lambda: shown(app, "carol: still here?"), pilot)
