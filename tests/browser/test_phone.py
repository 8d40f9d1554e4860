"""The page on a phone: 390 px wide, touch, and still one can read and write."""

from __future__ import annotations

from playwright.async_api import Locator, Page, ViewportSize, expect

from homer.testing.server import TestServer
from tests.browser.helpers import (
    SESSION_LOOP,
    People,
    Shots,
    expect_delivered,
    join_room,
    message,
    send,
    sign_in,
)

pytestmark = SESSION_LOOP

PHONE = ViewportSize(width=390, height=844)


async def nothing_overflows(page: Page) -> None:
    """The page does not scroll sideways: everything fits the screen's width."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide"


async def within_screen(element: Locator) -> None:
    await expect(element).to_be_in_viewport(ratio=1)
    box = await element.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]


async def test_a_phone_reads_and_sends(server: TestServer, people: People, shots: Shots) -> None:
    alice = await people("alice", viewport=PHONE, is_mobile=True, has_touch=True)
    bob = await people("bob")
    page = alice.page

    await page.goto(server.url + "/")
    await within_screen(page.locator("#login-form"))
    await nothing_overflows(page)
    await shots(page, "sign-in")
    await sign_in(alice, server)
    await sign_in(bob, server)
    await join_room(bob.page, "lobby")

    # The sidebar folds away behind a "Rooms" button.
    sidebar, rooms = page.locator("#sidebar"), page.locator("#nav-toggle")
    await expect(sidebar).to_be_hidden()
    await expect(rooms).to_have_attribute("aria-expanded", "false")
    await shots(page, "signed-in")
    await rooms.tap()
    await expect(sidebar).to_be_visible()
    await expect(rooms).to_have_attribute("aria-expanded", "true")
    await within_screen(page.locator("#join-input"))
    await shots(page, "rooms-open")
    await join_room(page, "lobby")
    await expect(sidebar).to_be_hidden()  # opening a room folds it away again
    await expect(rooms).to_have_attribute("aria-expanded", "false")

    # Reading: bob's messages, a long one too, fit the screen.
    long_word = "supercalifragilistic" * 8
    await send(bob.page, "hello from a big screen")
    await send(bob.page, long_word)
    await expect_delivered(page, long_word, sender="bob")
    await within_screen(message(page, "hello from a big screen"))
    await within_screen(message(page, long_word))
    await nothing_overflows(page)

    # Writing: the composer and its Send button are on screen, and a tap sends.
    await within_screen(page.locator("#composer"))
    await within_screen(page.locator("#send-button"))
    await page.locator("#composer").tap()
    await page.locator("#composer").fill("hello from a phone")
    await page.locator("#send-button").tap()
    await expect_delivered(bob.page, "hello from a phone", sender="alice")
    await expect_delivered(page, "hello from a phone", sender="alice")
    await within_screen(message(page, "hello from a phone"))
    await nothing_overflows(page)
    await shots(page, "chatting")

    # The members fold away too, behind a button that counts them.
    members = page.locator("#members-toggle")
    await expect(members).to_have_text("Members (2)")
    await members.tap()
    await expect(page.locator("#members")).to_be_visible()
    await within_screen(page.locator("#member-list"))
    await expect(page.locator("#member-list")).to_contain_text("bob")
    await shots(page, "members-open")
    # The panel covers most of the screen; a tap on what shows beside it closes it.
    await page.locator("#scroller").tap(position={"x": 10, "y": 100})
    await expect(page.locator("#members")).to_be_hidden()
    assert alice.errors == []
