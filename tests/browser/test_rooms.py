"""Managing rooms from the page: a private room, its topic, an invitation,
removing and banning a member, and filtering the public directory."""

from __future__ import annotations

from playwright.async_api import expect

from homer.testing.server import TestServer
from tests.browser.helpers import SESSION_LOOP, People, join_room, sign_in

pytestmark = SESSION_LOOP


async def test_a_private_room_from_topic_to_ban(server: TestServer, people: People) -> None:
    alice, bob = await people("alice"), await people("bob")
    await sign_in(alice, server)
    await sign_in(bob, server)
    page = alice.page
    await page.locator("#join-kind").select_option("private")
    await join_room(page, "plans")
    assert (await server.app.store.room("plans")).kind == "private"  # type: ignore[union-attr]

    # The topic, edited in place.
    await page.locator("#topic-button").click()
    editor = page.get_by_role("textbox", name="The topic of #plans")
    await editor.fill("the launch")
    await editor.press("Enter")
    await expect(page.locator("#room-topic")).to_have_text("the launch")

    # bob cannot join it until he is invited (the page then offers to create it, and
    # the id is taken: room ids are one namespace).
    await bob.page.locator("#join-input").fill("plans")
    await bob.page.locator("#join-input").press("Enter")
    await expect(bob.page.locator("#join-status")).to_have_text(
        "a room with id plans already exists"
    )
    await expect(bob.page.locator("#room-list")).not_to_contain_text("#plans")
    await page.locator("#invite-input").fill("bob")
    await page.locator("#invite-input").press("Enter")
    await expect(page.locator("#invite-status")).to_have_text("bob is invited.")
    await join_room(bob.page, "plans")
    await expect(page.locator("#member-list")).to_contain_text("bob")

    # The owner removes him (asked in place), then bans him.
    await page.get_by_role("button", name="Remove bob").click()
    await page.locator("#member-list").get_by_role("button", name="Remove", exact=True).click()
    await expect(bob.page.locator("#room-list")).not_to_contain_text("#plans")
    await page.locator("#invite-input").fill("bob")
    await page.locator("#invite-input").press("Enter")
    await join_room(bob.page, "plans")
    await page.get_by_role("button", name="Ban bob").click()
    await page.locator("#member-list").get_by_role("button", name="Ban", exact=True).click()
    await expect(bob.page.locator("#room-list")).not_to_contain_text("#plans")
    await bob.page.locator("#join-input").fill("plans")
    await bob.page.locator("#join-input").press("Enter")
    await expect(bob.page.locator("#join-status")).to_have_text("you are banned from 'plans'")
    assert alice.dialogs == []


async def test_the_directory_filters_as_one_types(server: TestServer, people: People) -> None:
    alice = await people("alice")
    await sign_in(alice, server)
    page = alice.page
    for room in ("garden", "games", "news"):
        await join_room(page, room)
    directory = page.locator("#directory")
    await expect(directory).to_contain_text("#news")
    await page.locator("#dir-filter").fill("ga")
    await expect(directory.locator("li")).to_have_count(2)
    await expect(directory).not_to_contain_text("#news")
    await page.locator("#dir-filter").fill("")
    await expect(directory.locator("li")).to_have_count(3)
