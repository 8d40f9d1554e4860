"""Desktop notifications for mentions and direct messages, with the user's
permission, and none from a muted room."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page, expect

from homer.testing.server import TestServer
from tests.browser.helpers import SESSION_LOOP, People, join_room, send, sign_in

pytestmark = SESSION_LOOP

# A stand-in for the browser's Notification that records what the page shows.
RECORDING = """
window.__notes = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push([title, options.body]); }
  close() {}
};
"""


async def notes(page: Page, count: int) -> list[Any]:
    """The notifications shown, once there are ``count`` (within a few seconds)."""
    found: list[Any] = []
    for _ in range(80):
        found = await page.evaluate("window.__notes")
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(found)} notifications, not {count}: {found}")


async def test_mentions_and_dms_notify_unless_muted(server: TestServer, people: People) -> None:
    alice, bob = await people("alice"), await people("bob")
    await alice.context.add_init_script(RECORDING)
    await sign_in(alice, server)
    await sign_in(bob, server)
    await join_room(alice.page, "lobby")
    await join_room(bob.page, "lobby")
    await join_room(alice.page, "side")  # alice looks elsewhere
    await send(bob.page, "no mention here")
    await send(bob.page, "@alice look")
    assert await notes(alice.page, 1) == [["bob mentioned you in #lobby", "@alice look"]]
    await alice.page.locator("#room-list button", has_text="#lobby").click()
    await alice.page.locator("#mute-button").click()
    await expect(alice.page.locator("#mute-button")).to_have_attribute("aria-pressed", "true")
    await join_room(alice.page, "side")
    await send(bob.page, "@alice again, muted")
    await bob.page.locator("#dm-input").fill("alice")
    await bob.page.locator("#dm-input").press("Enter")
    await expect(bob.page.locator("#room-title")).to_contain_text("alice")
    await send(bob.page, "psst")
    shown = await notes(alice.page, 2)
    assert [body for _, body in shown] == ["@alice look", "psst"], "nothing from the muted room"
