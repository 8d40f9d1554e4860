"""Registering: PASS with the account's password or a token, SASL PLAIN, and the
answers a client expects when it goes wrong."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from homer.config import HomerConfig
from homer.testing.server import PASSWORD, TestServer, replace_config, running_homer
from tests.irc.conftest import with_irc
from tests.irc.lines import irc_client, registered


async def test_pass_with_the_password_registers_under_the_account_name(port: int) -> None:
    async with irc_client(port) as client:
        await client.send(f"PASS :{PASSWORD}", "NICK Alice", "USER a 0 * :Alice")
        changed = await client.expect("NICK")
        assert changed.source == "Alice!Alice@homer"
        assert changed.params == ("alice",)
        welcome = await client.expect("001")
        assert welcome.params[0] == "alice"
        supported = (await client.expect("005")).params + (await client.expect("005")).params
        assert "CHANTYPES=#" in supported
        assert "UTF8ONLY" in supported


async def test_a_wrong_password_gets_464_and_the_connection_closes(port: int) -> None:
    async with irc_client(port) as client:
        await client.send("PASS :not-the-password", "NICK alice", "USER a 0 * :Alice")
        refused = await client.expect("464")
        assert refused.params[0] == "alice"
        closing = await client.expect("ERROR")
        assert "Bad password" in closing.params[0]
        assert not [line for line in client.seen if " 001 " in line]
        assert await client.reader.read() == b""


async def test_no_password_gets_464(port: int) -> None:
    async with irc_client(port) as client:
        await client.send("NICK alice", "USER a 0 * :Alice")
        await client.expect("464")


async def test_a_token_as_the_password(server: TestServer, port: int) -> None:
    token = await server.token("bob")
    async with irc_client(port) as client:
        await client.send(f"PASS {token}", "NICK bob", "USER b 0 * :Bob")
        await client.expect("001")


async def test_sasl_plain(port: int) -> None:
    blob = base64.b64encode(f"\0carol\0{PASSWORD}".encode()).decode()
    async with irc_client(port) as client:
        await client.send("CAP LS 302", "NICK someone", "USER c 0 * :Carol")
        listed = await client.expect("CAP")
        assert "sasl=PLAIN" in listed.params[-1].split()
        await client.send("CAP REQ :sasl", "AUTHENTICATE PLAIN")
        await client.expect("AUTHENTICATE")
        await client.send(f"AUTHENTICATE {blob}")
        logged = await client.expect("900")
        assert logged.params[2] == "carol"
        await client.expect("903")
        await client.send("CAP END")
        await client.expect("NICK")
        await client.expect("001")


async def test_sasl_failure_lets_the_client_try_again(port: int) -> None:
    wrong = base64.b64encode(b"\0carol\0nope").decode()
    right = base64.b64encode(f"\0carol\0{PASSWORD}".encode()).decode()
    async with irc_client(port) as client:
        await client.send("CAP REQ :sasl", "NICK carol", "USER c 0 * :Carol")
        await client.expect("CAP")
        await client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {wrong}")
        await client.expect("904")
        await client.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {right}")
        await client.expect("903")
        await client.send("CAP END")
        await client.expect("001")


async def test_commands_before_registration_get_451(port: int) -> None:
    async with irc_client(port) as client:
        await client.send("JOIN #lobby")
        await client.expect("451")


async def test_registration_joins_the_users_rooms(port: int) -> None:
    async with registered(port, "alice") as alice:
        await alice.send("JOIN #lobby")
        await alice.expect("JOIN")
        await alice.expect("366")
    async with registered(port, "alice") as again:
        joined = await again.expect("JOIN")
        assert joined.params == ("#lobby",)
        names = await again.expect("353")
        assert names.params[-1] == "@alice"


async def test_the_session_outlives_its_first_token(tmp_path: Path) -> None:
    """IRC clients cannot refresh tokens: the server renews the session's, so a
    connection lasts past the token's lifetime, until the token is revoked."""

    def short_tokens(config: HomerConfig) -> HomerConfig:
        return replace_config(with_irc(config), tokens={"ttl": 2.0})

    async with running_homer(tmp_path, configure=short_tokens) as server:
        await server.user("alice")
        assert server.irc_port is not None
        async with registered(server.irc_port, "alice") as alice:
            await asyncio.sleep(4.5)
            await alice.send("PING still-here")
            pong = await alice.expect("PONG")
            assert pong.params[-1] == "still-here"
            user = await server.app.identity.accounts.get("alice")
            await server.app.identity.tokens.revoke_user(user.id)
            closing = await alice.expect("ERROR", within=15)
            assert "revoked" in closing.params[0] or "expired" in closing.params[0]


async def test_each_room_is_shown_whole_before_the_next_answer(port: int) -> None:
    async with registered(port, "alice") as alice:
        await alice.send("JOIN #lobby", "JOIN #plans", "WHOIS alice")
        answer = [m.command for m in await alice.until("318")]
        assert answer.index("366") < answer.index("JOIN", answer.index("366"))
        assert answer[-4:] == ["311", "312", "330", "318"]  # online already: no 301
    async with irc_client(port) as again:
        await again.send(f"PASS :{PASSWORD}", "NICK alice", "USER a 0 * :A", "WHOIS alice")
        lines = await again.until("318")
        commands = [m.command for m in lines]
        joins = [m.params[0] for m in lines if m.command == "JOIN"]
        assert joins == ["#lobby", "#plans"]
        assert commands.index("366") < commands.index("JOIN", commands.index("366"))
        assert commands.index("311") > max(i for i, c in enumerate(commands) if c == "366")
        assert "301" not in commands
