"""Driving the web client as a person does: through its form fields, buttons and
visible text (the element ids of src/homer/web/index.html), never its script."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Dialog, Locator, Page, ViewportSize, expect

from homer.testing.server import PASSWORD, TestServer, create_user

#: Every browser test runs in the session's event loop, the browser's, and its
#: server with it: each test module sets ``pytestmark = SESSION_LOOP``.
SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")

CHROMIUM = Path(os.environ.get("HOMER_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
#: How long one step (a click, a page load, a message arriving) may take, in seconds.
STEP = 8.0
DESKTOP = ViewportSize(width=1280, height=800)

expect.set_options(timeout=STEP * 1000)


@dataclass
class Person:
    """One person at one browser: a context of their own and its first page."""

    name: str
    context: BrowserContext
    page: Page
    #: Every alert, confirm or prompt any page of theirs opened (each is dismissed).
    dialogs: list[str] = field(default_factory=list)
    #: Uncaught errors in their pages' scripts.
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        async def dismiss(dialog: Dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", dismiss)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    async def new_page(self) -> Page:
        """Another tab of the same browser context (cookies shared, session storage not)."""
        page = await self.context.new_page()
        self.watch(page)
        return page


#: Opens a browser context for a person: ``alice = await people("alice")``; keyword
#: arguments go to ``Browser.new_context`` (a viewport, touch...).
People = Callable[..., Awaitable[Person]]


class Shots:
    """Screenshots of the states a test reaches, numbered in the order it reached them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken = 0

    async def __call__(self, page: Page, step: str, *, full_page: bool = False) -> Path:
        self.taken += 1
        path = self.directory / f"{self.taken:02d}-{step}.png"
        await page.screenshot(path=path, full_page=full_page, animations="disabled")
        return path


async def sign_in(
    person: Person,
    server: TestServer,
    *,
    page: Page | None = None,
    password: str = PASSWORD,
    url: str | None = None,
) -> None:
    """Open the page and sign in through its own form (the account is made first)."""
    await create_user(server.app, person.name, password=password)
    page = page or person.page
    await page.goto((url or server.url) + "/")
    await fill_login(page, person.name, password)
    await page.locator("#signin-button").click()
    await expect_online(page)
    await expect(page.locator("#me")).to_have_text(person.name)


async def fill_login(page: Page, name: str, password: str) -> None:
    await expect(page.locator("#login-form")).to_be_visible()
    await page.locator("#login-name").fill(name)
    await page.locator("#login-password").fill(password)


async def expect_online(page: Page, *, within: float = STEP) -> None:
    await expect(page.locator("#app-view")).to_be_visible()
    await expect(page.locator("#conn")).to_have_attribute(
        "data-state", "online", timeout=within * 1000
    )


async def join_room(page: Page, room: str) -> None:
    """Join ``room`` through the sidebar's form (which creates a room that is not there)."""
    await page.locator("#join-input").fill(room)
    await page.locator("#join-input").press("Enter")
    await expect(page.locator("#room-title")).to_have_text(f"#{room}")
    await expect(page.locator("#composer")).to_be_enabled()


async def send(page: Page, text: str) -> None:
    """Type ``text`` in the composer and send it with Enter."""
    await page.locator("#composer").fill(text)
    await page.locator("#composer").press("Enter")
    await expect(page.locator("#composer")).to_have_value("")


def message(page: Page, text: str) -> Locator:
    """The shown messages whose text is ``text``, leading and trailing spaces aside."""
    exactly = re.compile(r"^\s*" + re.escape(text.strip()) + r"\s*$")
    return page.locator("#messages li.msg").filter(
        has=page.locator(".text").filter(has_text=exactly)
    )


async def expect_delivered(page: Page, text: str, *, sender: str) -> None:
    """``text`` from ``sender`` is shown once, and sent: no "Sending…", no "Not sent"."""
    shown = message(page, text)
    await expect(shown).to_have_count(1)
    await expect(shown.locator(".who")).to_have_text(sender)
    await expect(shown.locator(".state").filter(has_text=NOT_SENT)).to_have_count(0)


#: What a message's state line says until the server has it.
NOT_SENT = re.compile(r"Sending…|Not sent")


async def shown_texts(page: Page) -> list[str]:
    """The text of every message shown, top to bottom."""
    return await page.locator("#messages li.msg .text").all_text_contents()
