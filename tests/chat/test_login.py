"""Logging in and registering: the form, the server's refusals, the token kept
for the next start (owner-only) and used then."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path

from textual.widgets import Button, Input, Static

from homer.chat import ChatApp
from homer.chat.credentials import SavedLogin, TokenStore
from homer.chat.screens import LoginScreen
from homer.config import HomerConfig
from homer.testing.server import PASSWORD, TestServer, replace_config, running_homer
from tests.chat.helpers import SIZE, make_app, status, until


async def test_logs_in_with_options_and_keeps_the_token(server: TestServer, tmp_path: Path) -> None:
    await server.user("alice")
    tokens = TokenStore(tmp_path / "tokens")
    app = await make_app(server, "alice", tmp_path, tokens=tokens)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "logged in")
        assert "online" in status(app)
        assert "alice" in status(app)
    saved = await asyncio.to_thread(tokens.load, server.url)
    assert saved is not None
    assert saved.name == "alice"
    path = tokens.path(server.url, "alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(tokens.directory.stat().st_mode) == 0o700

    # The next start uses the kept token: no form, no password.
    again = ChatApp(server.url, tokens=tokens)
    async with again.run_test(size=SIZE) as pilot:
        await until(again.ready.is_set, pilot, "connected with the kept token")
        assert not isinstance(again.screen, LoginScreen)
        assert again.me == "alice"


def login_form_shown(app: ChatApp) -> bool:
    return isinstance(app.screen, LoginScreen) and bool(app.screen.query("#password"))


async def test_the_form_logs_in_and_shows_a_bad_password(
    server: TestServer, tmp_path: Path
) -> None:
    await server.user("bob")
    app = ChatApp(server.url, tokens=TokenStore(tmp_path / "tokens"))
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: login_form_shown(app), pilot, "the login form")
        app.screen.query_one("#name", Input).value = "bob"
        app.screen.query_one("#password", Input).value = "not the password"
        await pilot.click("#login-button")
        error = app.screen.query_one("#login-error", Static)
        await until(lambda: "wrong name or password" in str(error.render()), pilot, "refusal")
        assert isinstance(app.screen, LoginScreen)

        password = app.screen.query_one("#password", Input)
        password.value = PASSWORD
        password.focus()
        await pilot.press("enter")  # Enter in the password field logs in
        await until(app.ready.is_set, pilot, "logged in")
        assert not isinstance(app.screen, LoginScreen)
        assert app.me == "bob"


async def test_the_form_registers(server: TestServer, tmp_path: Path) -> None:
    await server.user("carol")
    app = ChatApp(server.url, tokens=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: login_form_shown(app), pilot, "the login form")
        screen = app.screen
        screen.query_one("#name", Input).value = "carol"
        screen.query_one("#password", Input).value = "a-long-password"
        await pilot.click("#register-button")
        error = screen.query_one("#login-error", Static)
        await until(lambda: "already exists" in str(error.render()), pilot, "taken name")

        screen.query_one("#name", Input).value = "dave"
        screen.query_one("#register-button", Button).press()
        await until(app.ready.is_set, pilot, "registered and logged in")
        assert app.me == "dave"


async def test_the_token_is_refreshed_before_it_expires(tmp_path: Path) -> None:
    def short_tokens(config: HomerConfig) -> HomerConfig:
        return replace_config(config, tokens={"ttl": 4.0})

    async with running_homer(tmp_path / "server", configure=short_tokens) as server:
        tokens = TokenStore(tmp_path / "tokens")
        app = await make_app(server, "alice", tmp_path, tokens=tokens)
        async with app.run_test(size=SIZE) as pilot:
            await until(app.ready.is_set, pilot, "logged in")
            first = await asyncio.to_thread(tokens.load, server.url, "alice")
            assert first is not None
            assert first.expires_at is not None

            async def kept() -> SavedLogin | None:
                return await asyncio.to_thread(tokens.load, server.url, "alice")

            latest = first
            while latest.token == first.token:
                await pilot.pause(0.2)
                latest = await kept() or first
            assert latest.expires_at is not None
            assert latest.expires_at > first.expires_at
            # Past the first token's end, the session goes on.
            while time.time() < first.expires_at + 1.5:
                await pilot.pause(0.2)
            assert "online" in status(app)
            assert app.client is not None
            assert app.client.reconnects == 0


async def test_a_kept_token_that_no_longer_works_brings_the_form_back(
    server: TestServer, tmp_path: Path
) -> None:
    await server.user("alice")
    tokens = TokenStore(tmp_path / "tokens")
    await asyncio.to_thread(tokens.save, SavedLogin(server.url, "alice", "garbled", None))
    app = ChatApp(server.url, tokens=tokens)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: login_form_shown(app), pilot, "the login form")
        error = app.screen.query_one("#login-error", Static)
        await until(lambda: "Log in again" in str(error.render()), pilot, "why")
        assert app.screen.query_one("#name", Input).value == "alice"


async def test_a_token_given_at_the_start(server: TestServer, tmp_path: Path) -> None:
    app = ChatApp(server.url, token=await server.token("erin"), tokens=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(app.ready.is_set, pilot, "connected with the token")
        assert app.me == "erin"
