"""Two people, two browsers, one server: a room and a direct conversation."""

from __future__ import annotations

import re

from playwright.async_api import expect

from homer.testing.server import TestServer
from tests.browser.helpers import (
    SESSION_LOOP,
    People,
    Shots,
    expect_delivered,
    join_room,
    send,
    shown_texts,
    sign_in,
)

pytestmark = SESSION_LOOP


async def test_two_people_chat_in_a_room(server: TestServer, people: People, shots: Shots) -> None:
    alice, bob = await people("alice"), await people("bob")
    await alice.page.goto(server.url + "/")
    await shots(alice.page, "sign-in")
    await sign_in(alice, server)
    await sign_in(bob, server)
    await shots(alice.page, "signed-in")

    await join_room(alice.page, "lobby")  # there is no lobby: alice creates it
    await expect(alice.page.locator("#empty")).to_have_text("No messages yet: say hello.")
    await shots(alice.page, "room-created")
    await join_room(bob.page, "lobby")
    # Each sees the room in their list, and the other among its members.
    for person in (alice, bob):
        await expect(person.page.locator("#room-list button", has_text="#lobby")).to_have_attribute(
            "aria-current", "page"
        )
        await expect(person.page.locator("#member-list")).to_contain_text("alice")
        await expect(person.page.locator("#member-list")).to_contain_text("bob")

    # bob sees alice typing, until her message arrives.
    await alice.page.locator("#composer").press_sequentially("hello bob")
    await expect(bob.page.locator("#typing")).to_have_text("alice is typing…")
    await shots(bob.page, "alice-typing")
    await alice.page.locator("#composer").press("Enter")
    await expect_delivered(bob.page, "hello bob", sender="alice")
    await expect(bob.page.locator("#typing")).to_have_text("")
    await expect_delivered(alice.page, "hello bob", sender="alice")
    await send(bob.page, "hi alice, 🌻 & <friends>")
    await expect_delivered(alice.page, "hi alice, 🌻 & <friends>", sender="bob")
    await expect_delivered(bob.page, "hi alice, 🌻 & <friends>", sender="bob")
    await shots(alice.page, "alice-sees-both")
    await shots(bob.page, "bob-sees-both")

    # The same conversation, in the same order, on both screens.
    expected = ["hello bob", "hi alice, 🌻 & <friends>"]
    assert await shown_texts(alice.page) == expected
    assert await shown_texts(bob.page) == expected
    # alice's own message is marked as hers, bob's is not.
    mine = alice.page.locator("#messages li.msg.mine .text")
    await expect(mine).to_have_text(["hello bob"])

    # Each sees the other online (said in words for screen readers, beside the
    # dot); when bob signs out, alice sees him go.
    members = alice.page.locator("#member-list li")
    await expect(members.filter(has_text="bob")).to_have_text(re.compile(r"^online: bob"))
    await expect(bob.page.locator("#member-list li").filter(has_text="alice")).to_have_text(
        re.compile(r"^online: alice")
    )
    await bob.page.locator("#signout-button").click()
    await expect(members.filter(has_text="bob")).to_have_text(re.compile(r"^offline: bob"))
    await shots(alice.page, "bob-gone")
    assert alice.errors == bob.errors == []


async def test_a_direct_conversation(server: TestServer, people: People, shots: Shots) -> None:
    alice, bob = await people("alice"), await people("bob")
    await sign_in(alice, server)
    await sign_in(bob, server)

    await alice.page.locator("#dm-input").fill("bob")
    await alice.page.locator("#dm-input").press("Enter")
    await expect(alice.page.locator("#room-title")).to_have_text("@bob")
    await expect(alice.page.locator("#room-topic")).to_have_text("Direct conversation")
    await expect(alice.page.locator("#leave-button")).to_be_hidden()  # a DM is not left
    await send(alice.page, "psst, bob")
    await expect_delivered(alice.page, "psst, bob", sender="alice")
    await shots(alice.page, "alice-wrote")

    # bob is told of the conversation as it starts: it appears in his list, unread.
    conversation = bob.page.locator("#room-list button", has_text="@alice")
    await expect(conversation).to_be_visible()
    await expect(conversation.locator(".badge")).to_have_text("1 unread")
    await shots(bob.page, "bob-told")
    await conversation.click()
    await expect(bob.page.locator("#room-title")).to_have_text("@alice")
    await expect_delivered(bob.page, "psst, bob", sender="alice")
    await expect(conversation.locator(".badge")).to_have_count(0)  # read now
    await send(bob.page, "yes?")
    await expect_delivered(alice.page, "yes?", sender="bob")
    await shots(bob.page, "bob-answered")
    assert await shown_texts(alice.page) == await shown_texts(bob.page) == ["psst, bob", "yes?"]

    # Nobody else sees it: it is in no public directory.
    await expect(alice.page.locator("#dir-status")).to_have_text("No public rooms yet.")
    assert alice.errors == bob.errors == []
