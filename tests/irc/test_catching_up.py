"""An IRC client that was away sees what it missed: replayed at registration for
clients that cannot ask (no ``draft/chathistory``), by CHATHISTORY for those that
can; and what it showed counts as read when it goes."""

from __future__ import annotations

import asyncio

from homer.testing.server import TestServer
from tests.irc.lines import ANY_TIME, registered
from tests.irc.test_real_clients import until_read


async def _room_with_alice(server: TestServer, port: int) -> None:
    async with registered(port, "alice") as alice:
        await alice.join("#lobby")


async def test_what_was_missed_is_replayed_in_order_once(server: TestServer, port: int) -> None:
    await _room_with_alice(server, port)
    bob = await server.client("bob")
    await bob.join("lobby")
    for n in range(3):
        await bob.send("lobby", f"while you were out {n}")
    async with registered(port, "alice", caps="batch server-time") as alice:
        opened = await alice.expect("BATCH")
        assert opened.params[1:] == ("chathistory", "#lobby")
        lines = await alice.until("BATCH")
        said = [m for m in lines if m.command == "PRIVMSG"]
        assert [m.params for m in said] == [("#lobby", f"while you were out {n}") for n in range(3)]
        assert all(ANY_TIME.fullmatch((m.tags or {}).get("time", "")) for m in said)
        await bob.send("lobby", "and now live")
        live = await alice.expect("PRIVMSG")
        assert live.params == ("#lobby", "and now live")
        assert not [line for line in await alice.quiet() if "PRIVMSG" in line]
    # What the client showed counts as read: the next registration replays nothing.
    await until_read(server, "alice", 5)
    async with registered(port, "alice", caps="batch") as again:
        assert not [line for line in await again.quiet(0.5) if "BATCH" in line]


async def test_chathistory_latest_before_and_after(server: TestServer, port: int) -> None:
    await _room_with_alice(server, port)
    bob = await server.client("bob")
    await bob.join("lobby")
    for n in range(5):
        await bob.send("lobby", f"m{n}")
        await asyncio.sleep(0.01)  # IRC's times are in milliseconds: keep them apart
    caps = "batch server-time message-tags draft/chathistory"
    async with registered(port, "alice", caps=caps) as alice:
        assert not [line for line in await alice.quiet(0.3) if "BATCH" in line]
        await alice.send("CHATHISTORY LATEST #lobby * 2")
        await alice.expect("BATCH")
        latest = [m for m in await alice.until("BATCH") if m.command == "PRIVMSG"]
        assert [m.params[1] for m in latest] == ["m3", "m4"]
        first = (latest[0].tags or {})["msgid"]
        await alice.send(f"CHATHISTORY BEFORE #lobby msgid={first} 2")
        await alice.expect("BATCH")
        before = [m for m in await alice.until("BATCH") if m.command == "PRIVMSG"]
        assert [m.params[1] for m in before] == ["m1", "m2"]
        await alice.send(f"CHATHISTORY AFTER #lobby msgid={first} 10")
        await alice.expect("BATCH")
        after = [m for m in await alice.until("BATCH") if m.command == "PRIVMSG"]
        assert [m.params[1] for m in after] == ["m4"]
        when = (latest[0].tags or {})["time"]
        await alice.send(f"CHATHISTORY BEFORE #lobby timestamp={when} 1")
        await alice.expect("BATCH")
        by_time = [m for m in await alice.until("BATCH") if m.command == "PRIVMSG"]
        assert [m.params[1] for m in by_time] == ["m2"]


async def test_chathistory_refusals(port: int, server: TestServer) -> None:
    await _room_with_alice(server, port)
    async with registered(port, "alice", caps="batch draft/chathistory") as alice:
        await alice.send("CHATHISTORY LATEST #nowhere * 10")
        fail = await alice.expect("FAIL")
        assert fail.params[:2] == ("CHATHISTORY", "INVALID_TARGET")
        await alice.send("CHATHISTORY BEFORE #lobby bogus 10")
        fail = await alice.expect("FAIL")
        assert fail.params[:2] == ("CHATHISTORY", "INVALID_PARAMS")


async def test_a_client_without_capabilities_gets_plain_lines(
    server: TestServer, port: int
) -> None:
    await _room_with_alice(server, port)
    bob = await server.client("bob")
    await bob.join("lobby")
    await bob.send("lobby", "plain, please")
    async with registered(port, "alice") as alice:
        said = await alice.expect("PRIVMSG")
        assert said.tags is None
        assert said.params == ("#lobby", "plain, please")
        assert not [line for line in alice.seen if " BATCH " in line]
        joins = [line.split()[0] for line in alice.seen if " JOIN " in line]
        assert joins == [":alice!alice@homer", ":bob!bob@homer"]  # hers as it is now
