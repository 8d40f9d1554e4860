"""Whatever a message says, the page shows it as text: no markup, no script, no link."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

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
    shown_texts,
    sign_in,
)

pytestmark = SESSION_LOOP

#: Each would run script or make an element, were a message ever read as markup or
#: Markdown. Those that can mark ``window.__fired`` do, beside the usual alert(1).
PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=window.__fired.push('img')>",
    "<script>alert(1)</script>",
    "<script>window.__fired.push('script')</script>",
    "<svg onload=window.__fired.push('svg')></svg>",
    "<iframe src=\"javascript:window.parent.__fired.push('iframe')\"></iframe>",
    "[x](javascript:alert(1))",
    "javascript:alert(1)",
    '[a](https://example.com "x\\" onmouseover=\\"alert(1))',
    '[b](https://example.com "x" onmouseover="window.__fired.push(\'title\')")',
    "<a href=\"javascript:window.__fired.push('link')\">click me</a>",
    "<b onmouseover=window.__fired.push('hover')>hover me</b>",
    "&lt;b&gt;entities stay as typed&lt;/b&gt;",
]

#: What a message's text could have been turned into.
MADE_FROM_TEXT = "img, script, svg, iframe, a, b, object, embed, [onerror], [onload], [onmouseover]"

#: Elements a page that renders Markdown safely may make of a message's text; today's
#: page makes none (the text is one text node).
MARKDOWN = ["P", "BR", "A", "STRONG", "EM", "CODE", "PRE", "BLOCKQUOTE", "SPAN"]

#: What, in the messages, would run or load something: an element a message's text
#: may not become, an inline event handler, a link anywhere but http(s) or mail, a
#: source of any kind.
UNSAFE = """(root, markdown) => [...root.querySelectorAll("*")].flatMap((el) => {
  const found = [];
  if (el.closest(".text") && el !== el.closest(".text") && !markdown.includes(el.tagName)) {
    found.push(el.tagName);
  }
  for (const a of el.attributes) {
    if (a.name.startsWith("on") || a.name === "src" || a.name === "srcdoc") {
      found.push(`${el.tagName}[${a.name}]`);
    }
  }
  const href = el.getAttribute("href");
  if (href !== null && !/^(https?|mailto):/i.test(href)) found.push(`${el.tagName}[href=${href}]`);
  return found;
})"""


async def nothing_fired(person: Person, page: Page) -> None:
    assert person.dialogs == [], f"{person.name}'s page opened dialogs: {person.dialogs}"
    assert await page.evaluate("window.__fired") == [], f"{person.name}'s page ran a payload"
    assert person.errors == []


#: The kinds of element a payload could make, were it read as markup, and that are
#: never safe in a message (a link may be: UNSAFE checks where it goes).
KINDS = ["script", "img", "iframe", "svg", "object", "embed", "style", "form", "b"]


async def elements(page: Page) -> dict[str, int]:
    """How many elements of each of KINDS the whole page holds."""
    counts: dict[str, int] = await page.evaluate(
        "(kinds) => Object.fromEntries(kinds.map((k) =>"
        " [k, document.getElementsByTagName(k).length]))",
        KINDS,
    )
    return counts


async def shown_as_text(page: Page, *, own: dict[str, int]) -> None:
    """Each payload is one message, in order, and nothing in the messages runs or
    loads anything; the page holds no more elements of KINDS than its ``own``
    (counted before any payload arrived).

    A payload shows exactly as typed, but for one in Markdown's link syntax on a
    page that renders Markdown: that one may show its label alone, as text.
    """
    texts = [text.strip() for text in await shown_texts(page)]
    assert len(texts) == len(PAYLOADS), texts
    for payload, text in zip(PAYLOADS, texts, strict=True):
        label = re.match(r"\[([^\]]*)\]\(", payload)
        assert text == payload or (label is not None and text == label.group(1)), text
    assert await page.locator("#messages").evaluate(UNSAFE, MARKDOWN) == []
    assert await elements(page) == own


async def poke(page: Page) -> None:
    """What a reader does to a message: hover over it, and click it (but for a link,
    which would leave 127.0.0.1: where it goes is checked instead)."""
    texts = page.locator("#messages li.msg .text")
    for index in range(await texts.count()):
        text = texts.nth(index)
        await text.hover()
        if await text.locator("a").count() == 0:
            await text.click()
    await page.wait_for_timeout(200)  # what was going to run has run


async def test_messages_are_text_never_markup(
    server: TestServer, people: People, shots: Shots
) -> None:
    alice, bob = await people("alice"), await people("bob")
    await sign_in(alice, server)
    await sign_in(bob, server)
    await join_room(alice.page, "lobby")
    await join_room(bob.page, "lobby")
    own = {person.name: await elements(person.page) for person in (alice, bob)}

    for payload in PAYLOADS:
        await send(alice.page, payload)
    # As they arrive live (bob) and as the sender's page shows them (alice).
    await expect_delivered(bob.page, PAYLOADS[-1], sender="alice")
    await expect_delivered(alice.page, PAYLOADS[-1], sender="alice")
    for person in (alice, bob):
        await shown_as_text(person.page, own=own[person.name])
    await poke(bob.page)  # alice's page makes its messages the same way
    for person in (alice, bob):
        await nothing_fired(person, person.page)
    await shots(bob.page, "live", full_page=True)

    # As history, for carol who joins afterwards and reads back.
    carol = await people("carol")
    await sign_in(carol, server)
    own_carol = await elements(carol.page)
    await join_room(carol.page, "lobby")
    await expect(message(carol.page, PAYLOADS[-1])).to_have_count(1)
    await shown_as_text(carol.page, own=own_carol)
    await poke(carol.page)
    await nothing_fired(carol, carol.page)
    await shots(carol.page, "history", full_page=True)


async def test_room_names_and_topics_are_text_never_markup(
    server: TestServer, people: People, shots: Shots
) -> None:
    """What another member chose as a room's name or topic shows as they wrote it, in
    the directory, the room list, the header and the topic's line in the room."""
    name = "<img src=x onerror=window.__fired.push('name')>"
    topic = "<script>window.__fired.push('topic')</script><b onmouseover=alert(1)>t</b>"
    changed = "<svg onload=alert(1)></svg>[x](javascript:alert(1))"
    alice = await people("alice")
    await sign_in(alice, server)
    carol = await server.client("carol")
    await carol.create("den", name=name, topic=topic)
    page = alice.page

    await page.locator("#dir-refresh").click()
    listed = page.locator("#directory li").filter(has_text=name)
    await expect(listed.locator(".name")).to_have_text("#" + name)
    await expect(listed.locator("p.hint")).to_have_text(topic)
    await listed.locator("button").click()
    await expect(page.locator("#room-title")).to_have_text("#" + name)
    await expect(page.locator("#room-topic")).to_have_text(topic)
    await expect(page.locator("#room-list button .name")).to_have_text(["#" + name])
    await carol.request("topic", room="den", topic=changed)
    await expect(page.locator("#room-topic")).to_have_text(changed)
    await expect(page.locator("#messages li.sys").last).to_contain_text(
        f"carol set the topic: {changed}"
    )
    await shots(page, "room", full_page=True)

    for shown in (page.locator("#room-title"), page.locator("#room-topic"), listed):
        await shown.hover()
    await page.wait_for_timeout(200)
    for place in ("#room-title", "#room-topic", "#room-list", "#directory", "#messages"):
        made = page.locator(place).locator(MADE_FROM_TEXT)
        assert await made.count() == 0, place
    assert await page.title() == f"#{name} · Homer"  # a title is text whatever it holds
    await nothing_fired(alice, page)
