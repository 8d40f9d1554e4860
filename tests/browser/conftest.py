"""The web client in a real browser: Playwright drives Debian's Chromium against a
real Homer server on 127.0.0.1.

One browser per test session (per xdist worker), one server per test, one
browser context per person (alice and bob each have their own cookies and
session storage). Playwright's async API runs in the same event loop as the
server: each test module sets ``pytestmark = SESSION_LOOP``.

Chromium comes from Debian (``scripts/browser`` installs it); Playwright never
downloads a browser here. Without it every test in this directory skips, and
says why. ``HOMER_CHROMIUM`` names another binary.

Each test saves a screenshot of every state it reaches under
``test-artifacts/browser/<test>/`` (git ignores it), and one of every open page
when it fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from homer.testing.server import TestServer, running_homer
from tests.browser.helpers import ARTIFACTS, CHROMIUM, DESKTOP, STEP, People, Person, Shots


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: scripts/browser installs it "
            "(Debian: apt-get install chromium), or set HOMER_CHROMIUM"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # CI runs as root, where Chromium's sandbox refuses to start.
            chromium_sandbox=False,
            args=["--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    async with running_homer(tmp_path) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def people(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[People]:
    opened: list[Person] = []

    async def open_for(name: str, **options: Any) -> Person:
        options.setdefault("viewport", DESKTOP)
        context = await browser.new_context(**options)
        context.set_default_timeout(STEP * 1000)
        context.set_default_navigation_timeout(STEP * 1000)
        # Where a payload's script would mark its passage, were it ever run.
        await context.add_init_script("window.__fired = [];")
        person = Person(name, context, await context.new_page())
        person.watch(person.page)
        opened.append(person)
        return person

    try:
        yield open_for
    finally:
        report = getattr(request.node, "homer_call_report", None)
        for person in opened:
            if report is not None and report.failed:
                for number, page in enumerate(person.context.pages):
                    await failure_shot(request.node, page, f"failed-{person.name}-{number}")
            await person.context.close()


async def failure_shot(node: pytest.Item, page: Page, name: str) -> None:
    directory = artifacts_of(node)
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):  # a failure's picture is a courtesy
        await page.screenshot(path=directory / f"{name}.png", timeout=STEP * 1000)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep the outcome of the test's body where its fixtures can read it at teardown."""
    report = yield
    if report.when == "call":
        item.homer_call_report = report  # type: ignore[attr-defined]
    return report


def artifacts_of(node: pytest.Item) -> Path:
    return ARTIFACTS / re.sub(r"[^\w.-]+", "_", node.name)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    directory = artifacts_of(request.node)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return Shots(directory)
