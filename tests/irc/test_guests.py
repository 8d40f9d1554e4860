"""Guest mode over IRC: with ``tokens.guest`` on, an unknown nick registers without
a password, as on public networks, and may look around but not talk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from homer.config import HomerConfig
from homer.testing.server import TestServer, replace_config, running_homer
from tests.irc.conftest import with_irc
from tests.irc.lines import irc_client, registered


def with_guests(config: HomerConfig) -> HomerConfig:
    return replace_config(with_irc(config), tokens={"guest": True})


@pytest_asyncio.fixture
async def guest_server(tmp_path: Path) -> AsyncIterator[TestServer]:
    async with running_homer(tmp_path, configure=with_guests) as running:
        await running.user("alice")
        yield running


async def test_a_guest_registers_looks_around_and_cannot_talk(guest_server: TestServer) -> None:
    port = guest_server.irc_port
    assert port is not None
    owner = await guest_server.client("alice")
    await owner.create("lobby")
    async with irc_client(port) as guest:
        await guest.send("NICK visitor", "USER v 0 * :Visitor")
        welcome = await guest.expect("001")
        assert welcome.params[0] == "visitor"
        notice = await guest.expect("NOTICE")
        assert "guest" in notice.params[1]
        await guest.send("LIST")
        listed = [m.params[1] for m in await guest.until("323") if m.command == "322"]
        assert listed == ["#lobby"]
        await guest.send("WHOIS alice")
        assert "311" in {m.command for m in await guest.until("318")}
        await guest.send("JOIN #lobby", "PRIVMSG alice :hi")
        refused = [await guest.expect("477") for _ in range(2)]
        assert [m.params[1] for m in refused] == ["#lobby", "alice"]
        # The nick is the guest's while it is connected.
        async with irc_client(port) as other:
            await other.send("NICK Visitor", "USER v 0 * :V")
            taken = await other.expect("433")
            assert taken.params[1] == "Visitor"


async def test_an_accounts_nick_is_not_a_guests(guest_server: TestServer) -> None:
    port = guest_server.irc_port
    assert port is not None
    async with irc_client(port) as guest:
        await guest.send("NICK ALICE", "USER a 0 * :A")
        taken = await guest.expect("433")
        assert taken.params[1] == "ALICE"
        await guest.send("NICK bad,nick")
        await guest.expect("432")
    # The account itself still logs in with its password.
    async with registered(port, "alice") as alice:
        await alice.send("JOIN #lobby")
        await alice.expect("JOIN")


async def test_without_guest_mode_a_password_is_required(port: int) -> None:
    async with irc_client(port) as client:
        await client.send("NICK visitor", "USER v 0 * :Visitor")
        await client.expect("464")
