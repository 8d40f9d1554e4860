"""The page by keyboard alone: rooms, messages and back to the composer."""

from __future__ import annotations

from playwright.async_api import expect

from homer.testing.server import TestServer
from tests.browser.helpers import SESSION_LOOP, People, join_room, send, sign_in

pytestmark = SESSION_LOOP


async def test_rooms_and_messages_by_keyboard(server: TestServer, people: People) -> None:
    alice = await people("alice")
    await sign_in(alice, server)
    page = alice.page
    await join_room(page, "alpha")
    await send(page, "first")
    await send(page, "second")
    await join_room(page, "beta")
    # Alt+Up/Down switches rooms from anywhere, the composer keeps the focus.
    await page.locator("#composer").press("Alt+ArrowUp")
    await expect(page.locator("#room-title")).to_have_text("#alpha")
    await page.locator("#composer").press("Alt+ArrowDown")
    await expect(page.locator("#room-title")).to_have_text("#beta")
    await page.locator("#composer").press("Alt+ArrowDown")
    await expect(page.locator("#room-title")).to_have_text("#alpha")
    await expect(page.locator("#composer")).to_be_focused()
    # Up from an empty composer: the newest message; Up again: the one before it;
    # its actions are reachable with Tab; Escape: back to writing.
    await page.locator("#composer").press("ArrowUp")
    newest = page.locator("#messages li.msg").last
    await expect(newest).to_be_focused()
    await expect(newest).to_contain_text("second")
    await page.keyboard.press("ArrowUp")
    await expect(page.locator("#messages li.msg").first).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="React with thumbs up").first).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(page.locator("#composer")).to_be_focused()
    # The room list: arrows move between rooms, Enter opens one.
    await page.locator("#room-list button", has_text="#alpha").focus()
    await page.keyboard.press("ArrowDown")
    await expect(page.locator("#room-list button", has_text="#beta")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#room-title")).to_have_text("#beta")
