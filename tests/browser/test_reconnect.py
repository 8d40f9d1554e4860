"""The page across a reload, and a server that stops and starts again."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import expect

from homer.testing.server import TestServer, running_homer
from tests.browser.helpers import (
    SESSION_LOOP,
    STEP,
    People,
    Shots,
    expect_delivered,
    expect_online,
    join_room,
    message,
    send,
    shown_texts,
    sign_in,
)

pytestmark = SESSION_LOOP


async def test_a_reload_keeps_the_session_and_the_room(
    server: TestServer, people: People, shots: Shots
) -> None:
    alice, bob = await people("alice"), await people("bob")
    await sign_in(alice, server)
    await sign_in(bob, server)
    await join_room(alice.page, "lobby")
    await join_room(bob.page, "lobby")
    await send(alice.page, "before the reload")
    await expect_delivered(bob.page, "before the reload", sender="alice")

    # The token and the open room live in the tab's session storage: a reload
    # signs nobody out and reopens the room, its history loaded again.
    await alice.page.reload()
    await expect(alice.page.locator("#login-view")).to_be_hidden()
    await expect_online(alice.page)
    await expect(alice.page.locator("#me")).to_have_text("alice")
    await expect(alice.page.locator("#room-title")).to_have_text("#lobby")
    await expect_delivered(alice.page, "before the reload", sender="alice")
    await shots(alice.page, "reloaded")
    await send(alice.page, "after the reload")
    await send(bob.page, "welcome back")
    for person in (alice, bob):
        await expect_delivered(person.page, "welcome back", sender="bob")
        assert await shown_texts(person.page) == [
            "before the reload",
            "after the reload",
            "welcome back",
        ]

    # Signing out forgets the token: a reload then shows the sign-in form.
    await alice.page.locator("#signout-button").click()
    await expect(alice.page.locator("#login-form")).to_be_visible()
    await alice.page.reload()
    await expect(alice.page.locator("#login-form")).to_be_visible()
    await expect(alice.page.locator("#app-view")).to_be_hidden()
    assert alice.errors == bob.errors == []


async def test_the_page_rides_out_a_server_restart(
    tmp_path: Path, people: People, shots: Shots
) -> None:
    alice, bob = await people("alice"), await people("bob")
    async with running_homer(tmp_path) as first:
        port = first.running.port
        await sign_in(alice, first)
        await sign_in(bob, first)
        await join_room(alice.page, "lobby")
        await join_room(bob.page, "lobby")
        carol = await first.client("carol")
        await carol.join("lobby")
        await send(alice.page, "before the restart")
        await expect_delivered(bob.page, "before the restart", sender="alice")

    # Down: each page says so and tries again by itself, with a growing delay.
    for person in (alice, bob):
        await expect(person.page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
        await expect(person.page.locator("#conn-text")).to_have_text(
            re.compile(r"^Reconnecting in \d+s…$")
        )
        # Nobody's presence is known while the page is away: no stale green dot.
        await expect(person.page.locator("#member-list .dot:not(.unknown)")).to_have_count(0)
        await expect(person.page.locator("#member-list .dot.unknown").first).to_be_attached()
        await expect(person.page.locator("#member-list")).to_contain_text(f"unknown: {person.name}")
    # What alice sends now waits in the page, shown as on its way.
    await send(alice.page, "typed while the server was down")
    pending = message(alice.page, "typed while the server was down")
    await expect(pending.locator(".state")).to_have_text("Sending…")
    await shots(alice.page, "server-down")
    # Until alice's page waits over a second between tries (from the third on), so
    # that carol writes below before the page is back.
    await expect(alice.page.locator("#conn-text")).to_have_text(
        re.compile(r"^Reconnecting in [2-9]s…$")
    )

    async with running_homer(tmp_path, port=port) as second:
        # Someone writes before the pages are back: they must not miss it.
        carol = await second.client("carol")
        await carol.send("lobby", "sent while the pages were away")
        # Back: the pages reconnect on their own, catch up on the room, and alice's
        # page sends what waited (once: the server knows it by its client id).
        for person in (alice, bob):
            await expect_online(person.page, within=2 * STEP)
        for person in (alice, bob):
            await expect_delivered(person.page, "typed while the server was down", sender="alice")
            await expect_delivered(person.page, "sent while the pages were away", sender="carol")
        await shots(alice.page, "resumed")
        texts = await shown_texts(alice.page)
        assert texts == await shown_texts(bob.page)
        assert sorted(texts) == sorted(
            [
                "before the restart",
                "typed while the server was down",
                "sent while the pages were away",
            ]
        )
        # The server holds the same story: each message once.
        history = await carol.history("lobby")
        assert [m.body["text"] for m in history if m.kind == "msg"] == texts
        await send(bob.page, "all good")
        await expect_delivered(alice.page, "all good", sender="bob")
    assert alice.errors == bob.errors == []
