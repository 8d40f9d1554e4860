"""axe-core on the page as a person meets it: no ``serious`` or ``critical``
violation, in the light and the dark colour scheme."""

from __future__ import annotations

import re
from typing import Any, Literal

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from homer.testing.server import TestServer
from tests.browser.helpers import (
    SESSION_LOOP,
    People,
    Shots,
    expect_delivered,
    fill_login,
    join_room,
    send,
    sign_in,
)

pytestmark = SESSION_LOOP

BLOCKING = {"serious", "critical"}
SCHEMES = pytest.mark.parametrize("scheme", ["light", "dark"])


class Violations(AssertionError):
    """axe-core found what keeps someone from using the page."""


async def check(page: Page) -> None:
    results = await Axe().run(page)
    found: list[dict[str, Any]] = results.response["violations"]
    blocking = [v for v in found if v["impact"] in BLOCKING]
    if blocking:
        raise Violations(
            "\n".join(
                f"{v['id']} ({v['impact']}): {v['help']} at "
                + ", ".join(" ".join(node["target"]) for node in v["nodes"])
                for v in blocking
            )
        )


@SCHEMES
async def test_the_sign_in_form(
    server: TestServer, people: People, shots: Shots, scheme: Literal["light", "dark"]
) -> None:
    alice = await people("alice", color_scheme=scheme)
    await alice.page.goto(server.url + "/")
    await fill_login(alice.page, "alice", "not-her-password")
    await alice.page.locator("#signin-button").click()  # so the error shows too
    await expect(alice.page.locator("#login-error")).to_have_text(re.compile(r"\S"))
    await shots(alice.page, f"sign-in-{scheme}")
    await check(alice.page)


@SCHEMES
async def test_a_room_with_messages(
    server: TestServer, people: People, shots: Shots, scheme: Literal["light", "dark"]
) -> None:
    alice, bob = await people("alice", color_scheme=scheme), await people("bob")
    await sign_in(alice, server)
    await sign_in(bob, server)
    await join_room(alice.page, "lobby")
    await join_room(bob.page, "lobby")
    await send(alice.page, "hello bob")
    await send(bob.page, "hello alice")
    await expect_delivered(alice.page, "hello alice", sender="bob")
    await shots(alice.page, f"room-{scheme}")
    await check(alice.page)
