"""Rich messaging in the page: formatting, edits, deletions, reactions, threads,
mentions, files and search, between two people in two browsers."""

from __future__ import annotations

import io
import re

from PIL import Image
from playwright.async_api import expect

from homer.testing.server import TestServer
from tests.browser.helpers import (
    SESSION_LOOP,
    People,
    Person,
    Shots,
    expect_delivered,
    join_room,
    message,
    send,
    sign_in,
)

pytestmark = SESSION_LOOP

BLOB = re.compile(r"^blob:")


async def lobby(server: TestServer, people: People) -> tuple[Person, Person]:
    alice, bob = await people("alice"), await people("bob")
    await sign_in(alice, server)
    await sign_in(bob, server)
    await join_room(alice.page, "lobby")
    await join_room(bob.page, "lobby")
    await expect(alice.page.locator("#member-list")).to_contain_text("bob")
    return alice, bob


async def test_markdown_links_and_emoticons(
    server: TestServer, people: People, shots: Shots
) -> None:
    alice, bob = await lobby(server, people)
    await send(alice.page, "**bold** _it_ `code` [docs](https://example.com/d) :shrug:")
    shown = bob.page.locator("#messages li.msg").last
    await expect(shown.locator("strong")).to_have_text("bold")
    await expect(shown.locator("em")).to_have_text("it")
    await expect(shown.locator("code")).to_have_text("code")
    link = shown.locator("a")
    await expect(link).to_have_text("docs")
    await expect(link).to_have_attribute("href", "https://example.com/d")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(shown.locator(".text")).to_contain_text("¯\\_(ツ)_/¯")
    await shots(bob.page, "formatted")


async def test_edit_react_reply_mention_delete_and_search(
    server: TestServer, people: People, shots: Shots
) -> None:
    alice, bob = await lobby(server, people)
    await join_room(alice.page, "side")  # alice looks elsewhere: the lobby counts for her
    await send(bob.page, "helo evrybody")
    mine = message(bob.page, "helo evrybody")
    await mine.hover()
    await mine.get_by_role("button", name="Edit message").click()
    await bob.page.locator(".edit-box").fill("hello everybody")
    await bob.page.locator(".edit-box").press("Enter")
    await expect(message(bob.page, "hello everybody")).to_contain_text("(edited)")

    await send(bob.page, "lunch, @alice?")
    lobby_button = alice.page.locator("#room-list button", has_text="#lobby")
    await expect(lobby_button.locator(".badge.mention")).to_have_text("@1 mention")
    await expect(alice.page).to_have_title("@1 (2) #side · Homer")
    await shots(alice.page, "mentioned")
    await lobby_button.click()
    await expect(alice.page.locator(".new-divider")).to_have_text("New messages")
    await expect(lobby_button.locator(".badge")).to_have_count(0)
    await expect(message(alice.page, "hello everybody")).to_contain_text("(edited)")

    target = message(alice.page, "hello everybody")
    await target.hover()
    await target.get_by_role("button", name="React with thumbs up").click()
    reaction = message(bob.page, "hello everybody").locator(".reaction")
    await expect(reaction).to_have_text("👍 1")
    await expect(reaction).to_have_attribute("aria-pressed", "false")
    await expect(target.locator(".reaction")).to_have_attribute("aria-pressed", "true")

    await target.hover()
    await target.get_by_role("button", name="Reply in a thread").click()
    await expect(alice.page.locator("#reply-banner")).to_contain_text("Replying to bob")
    await send(alice.page, "yes, agreed")
    await expect(
        message(bob.page, "hello everybody").get_by_role("button", name="1 reply")
    ).to_be_visible()
    await message(bob.page, "hello everybody").get_by_role("button", name="1 reply").click()
    await expect(bob.page.locator("#thread-list")).to_contain_text("yes, agreed")
    await shots(bob.page, "thread")

    # @-completion: the room's members as one types.
    composer = alice.page.locator("#composer")
    await composer.press_sequentially("see you @b")
    await expect(alice.page.locator("#mention-list [role=option]")).to_have_text(["@bob"])
    await composer.press("Tab")
    await expect(composer).to_have_value("see you @bob ")
    await composer.press("Enter")
    await expect_delivered(bob.page, "see you @bob", sender="alice")

    # Deleting asks in place, then the message shows as deleted for everyone.
    doomed = message(bob.page, "lunch, @alice?")
    await doomed.hover()
    await doomed.get_by_role("button", name="Delete message").click()
    await expect(doomed.get_by_role("alert")).to_have_text("Delete this message for everyone?")
    await doomed.get_by_role("button", name="Delete", exact=True).click()
    await expect(alice.page.locator("#messages")).not_to_contain_text("lunch, @alice?")
    await expect(alice.page.locator("#messages")).to_contain_text("Message deleted")
    assert bob.dialogs == []
    assert alice.dialogs == []

    # Search: the current text, the match marked, a click opens the room.
    await alice.page.locator("#search-input").fill("EVERYBODY")
    await alice.page.locator("#search-input").press("Enter")
    await expect(alice.page.locator("#search-list mark")).to_have_text("everybody")
    await alice.page.locator("#search-input").fill("lunch")
    await alice.page.locator("#search-input").press("Enter")
    await expect(alice.page.locator("#search-status")).to_have_text("Nothing found.")
    await shots(alice.page, "searched")
    assert alice.errors == []
    assert bob.errors == []


async def test_an_image_is_uploaded_previewed_and_shown(
    server: TestServer, people: People, shots: Shots
) -> None:
    alice, bob = await lobby(server, people)
    picture = io.BytesIO()
    Image.new("RGB", (120, 80), "teal").save(picture, "PNG")
    await alice.page.locator("#file-input").set_input_files(
        files=[{"name": "teal.png", "mimeType": "image/png", "buffer": picture.getvalue()}]
    )
    attachments = alice.page.locator("#attachments")
    await expect(attachments).to_contain_text("teal.png")
    await expect(attachments).to_contain_text("ready")
    await expect(attachments.locator("img")).to_have_attribute("src", BLOB)
    await send(alice.page, "the colour")
    shown = message(bob.page, "the colour")
    await expect(shown.locator("img.thumb")).to_have_attribute("alt", "teal.png")
    await expect(shown.locator("img.thumb")).to_have_attribute("src", BLOB)
    await expect(shown.get_by_role("button", name="teal.png (", exact=False)).to_be_visible()
    width = await shown.locator("img.thumb").evaluate("img => img.naturalWidth")
    assert 0 < width <= 120
    await shots(bob.page, "image")


async def test_the_session_outlives_the_tab_and_signing_out_ends_it(
    server: TestServer, people: People
) -> None:
    alice = await people("alice")
    await sign_in(alice, server)
    second = await alice.new_page()
    await second.goto(server.url + "/")
    await expect(second.locator("#me")).to_have_text("alice")  # no password asked
    await alice.page.reload()
    await expect(alice.page.locator("#me")).to_have_text("alice")
    cookies = await alice.context.cookies()
    (session,) = [c for c in cookies if c["name"] == "homer_session"]
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    await second.locator("#signout-button").click()
    await expect(alice.page.locator("#login-form")).to_be_visible()  # every tab
    third = await alice.new_page()
    await third.goto(server.url + "/")
    await expect(third.locator("#login-form")).to_be_visible()
