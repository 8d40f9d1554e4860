"""Driving a :class:`~homer.chat.ChatApp` in a test: waiting for what the screen
shows, never for a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from homer.chat import ChatApp
from homer.chat.credentials import TokenStore
from homer.testing.server import PASSWORD, TestServer

#: Seconds a condition may take on a loaded machine.
PATIENCE = 30.0
SIZE = (100, 30)


async def make_app(server: TestServer, name: str, tmp_path: Path, **options: Any) -> ChatApp:
    """A chat app that logs ``name`` in (the account made if needed)."""
    await server.user(name)
    options.setdefault("tokens", TokenStore(tmp_path / f"tokens-{name}"))
    options.setdefault("tz", UTC)
    return ChatApp(server.url, name=name, password=PASSWORD, **options)


async def until(condition: Callable[[], bool], pilot: Pilot[Any], what: str = "") -> None:
    """Let the app run until ``condition`` holds (fails after :data:`PATIENCE`)."""
    try:
        async with asyncio.timeout(PATIENCE):
            while not condition():
                await pilot.pause(0.05)
    except TimeoutError:
        raise AssertionError(f"never happened: {what or condition}") from None


def lines(app: ChatApp) -> list[str]:
    """The message view's lines as plain text."""
    return [str(widget.render()) for widget in app.view.query(Static)]


def shown(app: ChatApp, text: str) -> bool:
    return any(text in line for line in lines(app))


def status(app: ChatApp) -> str:
    return str(app.query_one("#status", Static).render())


def room_list(app: ChatApp) -> str:
    return str(app.query_one("#rooms", Static).render())


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type ``text`` key by key into the focused widget."""
    keys = [{" ": "space"}.get(c, c) for c in text]
    await pilot.press(*keys)


async def enter(pilot: Pilot[Any], text: str) -> None:
    """Type ``text`` into the focused widget and press Enter (send it, or run it)."""
    await type_text(pilot, text)
    await pilot.press("enter")
