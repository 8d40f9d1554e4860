"""Signing up, in and out through the page's own form."""

from __future__ import annotations

import re

from playwright.async_api import expect

from homer.testing.server import TestServer
from tests.browser.helpers import (
    SESSION_LOOP,
    People,
    Shots,
    expect_online,
    fill_login,
    join_room,
    sign_in,
)

pytestmark = SESSION_LOOP


async def test_an_account_made_in_the_page_signs_in(
    server: TestServer, people: People, shots: Shots
) -> None:
    dora = await people("dora")
    page = dora.page
    await page.goto(server.url + "/")
    await expect(page.locator("#login-name")).to_be_focused()

    # Nothing typed: the page says what is missing, and stays.
    await page.locator("#register-button").click()
    await expect(page.locator("#login-error")).to_have_text("Enter a name and a password.")

    await fill_login(page, "dora", "a-long-enough-password")
    await page.locator("#register-button").click()
    await expect_online(page)
    await expect(page.locator("#me")).to_have_text("dora")
    await expect(page.locator("#room-list")).to_have_text("No rooms yet: join one below.")
    await shots(page, "registered")
    account = await server.app.identity.accounts.get("dora")
    assert account.name == "dora"

    # The name is taken now: a second account by that name is refused, in words.
    other = await people("another-dora")
    await other.page.goto(server.url + "/")
    await fill_login(other.page, "dora", "another-long-password")
    await other.page.locator("#register-button").click()
    await expect(other.page.locator("#login-error")).to_have_text(re.compile(r"\S"))
    await expect(other.page.locator("#app-view")).to_be_hidden()
    await shots(other.page, "name-taken")
    assert dora.errors == other.errors == []


async def test_a_wrong_password_is_refused_and_sign_out_forgets(
    server: TestServer, people: People, shots: Shots
) -> None:
    alice = await people("alice")
    await sign_in(alice, server)  # makes her account
    await join_room(alice.page, "lobby")
    await alice.page.locator("#signout-button").click()
    page = alice.page
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#login-name")).to_be_focused()
    # Signed out: nothing of hers is left on the page.
    await expect(page.locator("#app-view")).to_be_hidden()
    await expect(page.locator("#messages li")).to_have_count(0)

    await fill_login(page, "alice", "not-her-password")
    await page.locator("#signin-button").click()
    await expect(page.locator("#login-error")).to_have_text(re.compile(r"\S"))
    await expect(page.locator("#app-view")).to_be_hidden()
    # What was typed stays, so a typo can be fixed, and the buttons work again.
    await expect(page.locator("#login-password")).to_have_value("not-her-password")
    await expect(page.locator("#signin-button")).to_be_enabled()
    await shots(page, "refused")

    await sign_in(alice, server)
    # Back in: her rooms come back from the server, none is open.
    await expect(page.locator("#room-list button", has_text="#lobby")).to_be_visible()
    await expect(page.locator("#room-title")).to_have_text("No room open")
    await expect(page.locator("#login-error")).to_have_text("")
    assert alice.errors == []
