"""Two people chatting through a real server, each in a headless ``homer chat``:
sending and receiving, what is shown literally, the input that keeps its text
while messages arrive, unread counts and the read marker."""

from __future__ import annotations

from pathlib import Path

from homer.testing.server import TestServer
from tests.chat.helpers import SIZE, enter, lines, make_app, room_list, shown, type_text, until


async def test_two_users_talk(server: TestServer, tmp_path: Path) -> None:
    owner = await server.client("alice")
    await owner.create("lobby")
    await owner.close()
    alice = await make_app(server, "alice", tmp_path)
    bob = await make_app(server, "bob", tmp_path)
    async with alice.run_test(size=SIZE) as a, bob.run_test(size=SIZE) as b:
        await until(alice.ready.is_set, a, "alice in")
        await until(bob.ready.is_set, b, "bob in")
        await enter(b, "/join lobby")
        await until(
            lambda: bob.current == "lobby", b, f"bob in the lobby {lines(bob)} {bob.input.text!r}"
        )

        await enter(a, "hello bob")
        await until(lambda: shown(bob, "alice: hello bob"), b, "bob sees alice")
        assert shown(alice, "alice: hello bob")
        assert alice.input.text == ""

        await enter(b, "/me waves")
        await until(lambda: shown(alice, "* bob waves"), a, "alice sees bob's action")


async def test_user_text_is_never_markup(server: TestServer, tmp_path: Path) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    bob = await make_app(server, "bob", tmp_path)
    async with bob.run_test(size=SIZE) as b:
        await until(bob.ready.is_set, b, "bob in")
        await enter(b, "/join lobby")
        await until(
            lambda: bob.current == "lobby", b, f"bob in the lobby {lines(bob)} {bob.input.text!r}"
        )
        await alice_sdk.send("lobby", "[bold]x[/] and [red]y[/red] :shrug:")
        await until(lambda: shown(bob, "alice: [bold]x[/] and [red]y[/red] ¯\\_(ツ)_/¯"), b)


async def test_the_input_keeps_its_text_and_cursor_while_messages_arrive(
    server: TestServer, tmp_path: Path
) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    bob = await make_app(server, "bob", tmp_path)
    async with bob.run_test(size=SIZE) as b:
        await until(bob.ready.is_set, b, "bob in")
        await enter(b, "/join lobby")
        await until(
            lambda: bob.current == "lobby", b, f"bob in the lobby {lines(bob)} {bob.input.text!r}"
        )
        await type_text(b, "half a thought")
        await b.press("left", "left", "left", "left", "left", "left", "left")
        assert bob.input.cursor_location == (0, 7)
        for n in range(5):
            await alice_sdk.send("lobby", f"interruption {n}")
        await until(lambda: shown(bob, "alice: interruption 4"), b, "the messages")
        assert bob.input.text == "half a thought"
        assert bob.input.cursor_location == (0, 7)
        assert bob.focused is bob.input
        await type_text(b, "X")
        assert bob.input.text == "half a Xthought"


async def test_multiline_input_and_input_history(server: TestServer, tmp_path: Path) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    bob = await make_app(server, "bob", tmp_path)
    async with bob.run_test(size=SIZE) as b:
        await until(bob.ready.is_set, b, "bob in")
        await enter(b, "/join lobby")
        await until(lambda: bob.current == "lobby", b)
        await type_text(b, "first")
        await b.press("ctrl+j")
        await type_text(b, "second")
        await b.press("alt+enter")
        await type_text(b, "third")
        assert bob.input.text == "first\nsecond\nthird"
        await b.press("enter")
        await until(lambda: shown(bob, "bob: first\nsecond\nthird"), b, "the three-line message")
        await type_text(b, "draft")
        await b.press("up")
        assert bob.input.text == "first\nsecond\nthird"
        await b.press("up", "up")  # within the recalled message, to its first line
        assert bob.input.text == "first\nsecond\nthird"
        await b.press("up")  # from the first line: the one before
        assert bob.input.text == "/join lobby"
        await b.press("down", "down", "down")
        assert bob.input.text == "draft"


async def test_unread_counts_and_the_read_marker(server: TestServer, tmp_path: Path) -> None:
    alice_sdk = await server.client("alice")
    await alice_sdk.create("lobby")
    await alice_sdk.create("attic")
    bob_sdk = await server.client("bob")
    await bob_sdk.join("lobby")
    await bob_sdk.join("attic")
    await alice_sdk.send("lobby", "before you came")
    await alice_sdk.send("attic", "one")
    await alice_sdk.send("attic", "two")
    await bob_sdk.close()
    bob = await make_app(server, "bob", tmp_path)
    async with bob.run_test(size=SIZE) as b:
        await until(bob.ready.is_set, b, "bob in")
        # The first room (#attic) is open: read. The welcome's count for #lobby shows.
        assert bob.current == "attic"
        await until(lambda: "#lobby (1)" in room_list(bob), b, "the welcome's unread count")
        text = lines(bob)
        assert text.index("── new messages ──") < text.index(
            next(line for line in text if "alice: one" in line)
        )
        # Live messages in another room count up.
        await alice_sdk.send("lobby", "are you there?")
        await until(lambda: "#lobby (2)" in room_list(bob), b, "a live message counted")
        # Opening the room reads it, on the server too.
        await b.press("ctrl+n")
        await until(lambda: bob.current == "lobby", b)
        await until(lambda: "#lobby (" not in room_list(bob), b, "read")
        answer = await server.client("bob")
        lobby = next(r for r in answer.welcome["rooms"] if r["id"] == "lobby")
        assert lobby["unread"] == 0
