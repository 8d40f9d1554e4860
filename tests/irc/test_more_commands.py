"""The rest of what docs/topics/irc.md promises: read markers, the other history
queries, leaving every room at once, the small lookups, server notices, and the
limits on a client that does not register or sends too much."""

from __future__ import annotations

import asyncio
from pathlib import Path

from homer.config import HomerConfig
from homer.testing.server import TestServer, replace_config, running_homer
from tests.irc.conftest import with_irc
from tests.irc.lines import irc_client, registered


async def _lobby_with(server: TestServer, texts: list[str]) -> list[int]:
    bob = await server.client("bob")
    await bob.create("lobby")
    await bob.request("invite", room="lobby", user="alice")
    seqs = []
    for text in texts:
        seqs.append((await bob.send("lobby", text))["seq"])
        await asyncio.sleep(0.01)  # IRC's times are in milliseconds
    return seqs


async def test_read_markers_both_ways(server: TestServer, port: int) -> None:
    seqs = await _lobby_with(server, ["one", "two"])
    caps = "draft/read-marker draft/chathistory batch server-time message-tags"
    async with registered(port, "alice", caps=caps) as alice:
        await alice.join("#lobby")
        unread = await alice.expect("MARKREAD")
        assert unread.params == ("#lobby", "*")
        await alice.send("CHATHISTORY LATEST #lobby * 5")
        await alice.expect("BATCH")
        said = [m for m in await alice.until("BATCH") if m.command == "PRIVMSG"]
        first_time = (said[0].tags or {})["time"]
        await alice.send(f"MARKREAD #lobby timestamp={first_time}")
        marked = await alice.expect("MARKREAD")
        assert marked.params == ("#lobby", f"timestamp={first_time}")
        user = await server.app.identity.accounts.get("alice")
        infos = {info["id"]: info for info in await server.app.rooms.mine(user)}
        assert infos["lobby"]["read"] == seqs[0]
        # Moved on another device: told at once.
        web = await server.client("alice")
        await web.read("lobby", seqs[1])
        moved = await alice.expect("MARKREAD")
        assert moved.params[1] == f"timestamp={(said[1].tags or {})['time']}"
        await alice.send("MARKREAD #lobby")
        asked = await alice.expect("MARKREAD")
        assert asked.params == moved.params
        await alice.send("MARKREAD #lobby yesterday")
        fail = await alice.expect("FAIL")
        assert fail.params[:2] == ("MARKREAD", "INVALID_PARAMS")


async def test_chathistory_around_between_and_targets(server: TestServer, port: int) -> None:
    await _lobby_with(server, [f"m{n}" for n in range(6)])
    caps = "draft/chathistory batch server-time message-tags"
    async with registered(port, "alice", caps=caps) as alice:
        await alice.join("#lobby")
        await alice.send("CHATHISTORY LATEST #lobby * 10")
        await alice.expect("BATCH")
        said = [m for m in await alice.until("BATCH") if m.command == "PRIVMSG"]
        ids = [(m.tags or {})["msgid"] for m in said]
        times = [(m.tags or {})["time"] for m in said]
        await alice.send(f"CHATHISTORY AROUND #lobby msgid={ids[3]} 3")
        await alice.expect("BATCH")
        around = [m.params[1] for m in await alice.until("BATCH") if m.command == "PRIVMSG"]
        assert around == ["m2", "m3", "m4"]
        await alice.send(f"CHATHISTORY BETWEEN #lobby msgid={ids[1]} msgid={ids[4]} 10")
        await alice.expect("BATCH")
        between = [m.params[1] for m in await alice.until("BATCH") if m.command == "PRIVMSG"]
        assert between == ["m2", "m3"]
        await alice.send(
            f"CHATHISTORY TARGETS timestamp={times[0]} timestamp=2100-01-01T00:00:00.000Z 10"
        )
        opened = await alice.expect("BATCH")
        assert opened.params[1] == "draft/chathistory-targets"
        targets = [m.params[1] for m in await alice.until("BATCH") if m.command == "CHATHISTORY"]
        assert targets == ["#lobby"]


async def test_join_0_leaves_every_room(port: int) -> None:
    async with registered(port, "alice") as alice:
        await alice.join("#one")
        await alice.join("#two")
        await alice.send("JOIN 0")
        parted = {(await alice.expect("PART")).params[0] for _ in range(2)}
        assert parted == {"#one", "#two"}


async def test_ison_userhost_and_setname(port: int) -> None:
    async with registered(port, "alice", caps="setname") as alice, registered(port, "bob"):
        await alice.send("ISON bob carol nobody")
        here = await alice.expect("303")
        assert here.params[1] == "bob"
        await alice.send("USERHOST bob nobody")
        hosts = await alice.expect("302")
        assert hosts.params[1] == "bob=+bob@homer"
        await alice.send("SETNAME :Alice A.")
        named = await alice.expect("SETNAME")
        assert named.params == ("Alice A.",)


async def test_broadcasts_and_purges_are_notices(server: TestServer, port: int) -> None:
    root = await server.client("root", group="admins")
    await root.create("lobby")
    await root.request("invite", room="lobby", user="alice")
    async with registered(port, "alice") as alice:
        await alice.join("#lobby")
        await root.request("broadcast", text="maintenance at noon")
        told = await alice.expect("NOTICE")
        assert told.source == "root!root@homer"
        assert told.params == ("alice", "[broadcast] maintenance at noon")
        await root.request("purge", room="lobby")
        purged = await alice.expect("NOTICE")
        assert purged.params == ("#lobby", "History was purged")


async def test_a_client_that_never_registers_is_closed(tmp_path: Path) -> None:
    def impatient(config: HomerConfig) -> HomerConfig:
        return replace_config(with_irc(config), limits={"handshake_timeout": 1.0})

    async with running_homer(tmp_path, configure=impatient) as server:
        assert server.irc_port is not None
        async with irc_client(server.irc_port) as client:
            await client.send("NICK alice")
            closing = await client.expect("ERROR", within=10)
            assert "Closing Link" in closing.params[0]


async def test_a_flood_of_commands_is_closed(port: int) -> None:
    async with registered(port, "alice") as alice:
        alice.writer.write(b"".join(b"WHOIS alice\r\n" for _ in range(2000)))
        closing = await alice.expect("ERROR", within=20)
        assert "Excess Flood" in closing.params[0]
