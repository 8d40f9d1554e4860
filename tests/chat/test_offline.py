"""``homer chat`` without a server: what the client kept, and an outbox that
empties once the server is back."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

from homer.chat import ChatApp
from homer.chat.credentials import TokenStore
from homer.testing.server import PASSWORD
from tests.chat.helpers import SIZE, enter, shown, status, until
from tests.client.restartable import node


async def test_offline_it_shows_what_it_kept_and_sends_what_was_written_later(
    tmp_path: Path,
) -> None:
    def bobs_app() -> ChatApp:
        return ChatApp(
            server.url,
            name="bob",
            password=PASSWORD,
            tokens=TokenStore(tmp_path / "tokens"),
            tz=UTC,
            state_dir=tmp_path / "state",
        )

    async with node(tmp_path) as server:
        await server.start("alice", "bob")
        alice = server.client("alice")
        await alice.connect()
        await alice.create("lobby")
        async with server.client("bob") as bob:
            await bob.join("lobby")
        await alice.send("lobby", "before the trip")

        app = bobs_app()
        async with app.run_test(size=SIZE) as pilot:
            await until(app.ready.is_set, pilot, "in")
            await until(lambda: shown(app, "before the trip"), pilot, "the history")
            await alice.send("lobby", "see you")
            await until(lambda: shown(app, "see you"), pilot, "a live message")
        await alice.close()
        await server.stop()

        app = bobs_app()
        async with app.run_test(size=SIZE) as pilot:
            await until(app.ready.is_set, pilot, "in, offline")
            await until(lambda: "offline" in status(app), pilot, "offline")
            await until(lambda: shown(app, "see you"), pilot, "the copy kept here")
            # A read marker the last run sent but saw no answer to may wait too.
            waiting = re.search(r"(\d+) queued", status(app))
            queued = 1 + (int(waiting.group(1)) if waiting else 0)
            await enter(pilot, "written on the train")
            await until(lambda: f"offline, {queued} queued" in status(app), pilot, "queued")
            await enter(pilot, "/who")
            await until(lambda: shown(app, "/who needs the server, and it is offline now"), pilot)

            await server.start()
            alice = server.client("alice")
            await alice.connect()
            await until(lambda: "online" in status(app), pilot, "back online")
            await until(lambda: shown(app, "written on the train"), pilot, "its echo")
            assert "queued" not in status(app)
            echo = await alice.next_event("msg", timeout=30)
            assert (echo.sender, echo.body["text"]) == ("bob", "written on the train")
            await alice.close()
