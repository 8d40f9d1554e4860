"""Channels are rooms: joining, leaving, topics, names, modes, kicks, bans and
invitations over IRC, checked against Homer's permissions, each refusal as the
numeric an IRC client expects."""

from __future__ import annotations

from homer.protocol.irc import IrcMessage
from homer.testing.server import TestServer
from tests.irc.lines import registered


def in_channel(code: str, channel: str):  # type: ignore[no-untyped-def]
    return lambda m: m.command == code and channel in m.params


async def test_join_makes_a_missing_room_and_the_joiner_its_owner(
    server: TestServer, port: int
) -> None:
    async with registered(port, "alice", caps="extended-join") as alice:
        await alice.send("JOIN #plans")
        joined = await alice.expect("JOIN")
        assert joined.params == ("#plans", "alice", "alice")
        assert joined.source == "alice!alice@homer"
        names = await alice.expect("353")
        assert names.params[1:] == ("=", "#plans", "@alice")
        await alice.expect("366")
    bob = await server.client("bob")
    info = await bob.join("plans")
    assert info["kind"] == "public"


async def test_join_and_part_are_seen_by_the_channel(server: TestServer, port: int) -> None:
    async with registered(port, "alice") as alice, registered(port, "bob") as bob:
        await alice.join("#lobby")
        await bob.join("#lobby")
        seen = await alice.expect("JOIN")
        assert seen.source == "bob!bob@homer"
        await bob.send("PART #lobby :later")
        parted = await bob.expect("PART")
        assert parted.params == ("#lobby",)
        seen = await alice.expect("PART")
        assert seen.source == "bob!bob@homer"
        await bob.send("PART #lobby")
        await bob.expect(in_channel("442", "#lobby"))


async def test_private_rooms_look_like_no_room_to_strangers(server: TestServer, port: int) -> None:
    carol = await server.client("carol")
    await carol.create("secret", kind="private")
    async with registered(port, "alice") as alice:
        await alice.send("JOIN #secret")
        await alice.expect(in_channel("403", "#secret"))
        await alice.send("JOIN #nothing-here!")
        await alice.expect("403")
        await carol.request("invite", room="secret", user="alice")
        invited = await alice.expect("INVITE")
        assert invited.params == ("alice", "#secret")
        await alice.send("JOIN #secret", "MODE #secret")
        await alice.expect("JOIN")
        modes = await alice.expect("324")
        assert modes.params[1:] == ("#secret", "+inst")


async def test_bans_kicks_and_modes_follow_homers_permissions(
    server: TestServer, port: int
) -> None:
    async with registered(port, "alice") as alice, registered(port, "bob") as bob:
        await alice.join("#lobby")
        await bob.join("#lobby")
        await bob.send(
            "KICK #lobby alice",
            "TOPIC #lobby :mine now",
            "MODE #lobby +b alice!*@*",
            "MODE #lobby -b x",
        )
        for _ in range(4):
            await bob.expect(in_channel("482", "#lobby"))
        assert not [line for line in bob.seen if " MODE " in line]  # a refusal says no more
        await alice.send("MODE #lobby +b bob!*@*")
        ban = await bob.expect("MODE")
        assert ban.params == ("#lobby", "+b", "bob!*@*")
        kicked = await bob.expect("KICK")
        assert kicked.params[:2] == ("#lobby", "bob")
        await bob.send("JOIN #lobby")
        await bob.expect(in_channel("474", "#lobby"))
        await alice.send("MODE #lobby -b bob")
        await alice.expect(lambda m: m.command == "MODE" and "-b" in m.params)
        await bob.send("JOIN #lobby")
        await bob.expect("JOIN")
        await alice.send("KICK #lobby bob :out")
        kicked = await bob.expect("KICK")
        assert kicked.source == "alice!alice@homer"
        await alice.send("KICK #lobby bob")
        absent = await alice.expect("441")
        assert absent.params[1:3] == ("bob", "#lobby")
        await alice.send("MODE #lobby +m")
        fixed = await alice.expect("400")
        assert fixed.params[1] == "MODE"


async def test_topic_is_set_and_reported(port: int) -> None:
    async with registered(port, "alice") as alice:
        await alice.send("JOIN #lobby", "TOPIC #lobby")
        await alice.expect(in_channel("331", "#lobby"))
        await alice.send("TOPIC #lobby :be nice")
        changed = await alice.expect("TOPIC")
        assert changed.params == ("#lobby", "be nice")
        await alice.send("TOPIC #lobby")
        shown = await alice.expect("332")
        assert shown.params[1:] == ("#lobby", "be nice")
        async with registered(port, "bob") as bob:
            await bob.send("JOIN #lobby", "TOPIC #lobby")
            await bob.expect(in_channel("332", "#lobby"))
            await alice.send("TOPIC #lobby :changed elsewhere")
            await bob.expect("TOPIC")
            await bob.send("TOPIC #lobby")
            again = await bob.expect(in_channel("332", "#lobby"))
            assert again.params[-1] == "changed elsewhere"


async def test_names_who_whois_list(server: TestServer, port: int) -> None:
    async with registered(port, "alice", caps="userhost-in-names") as alice:
        await alice.join("#lobby")
        async with registered(port, "bob") as bob:
            await bob.join("#lobby")
            await alice.send("NAMES #lobby")
            names = await alice.expect("353")
            assert sorted(names.params[-1].split()) == ["@alice!alice@homer", "bob!bob@homer"]
            await alice.send("WHO #lobby")
            who = [m for m in await alice.until("315") if m.command == "352"]
            assert sorted(m.params[5] for m in who) == ["alice", "bob"]
            await alice.send("WHOIS BOB")
            whois = {m.command: m for m in await alice.until("318")}
            assert whois["311"].params[1] == "bob"
            assert whois["330"].params[2] == "bob"
        await alice.send("MODE alice +B", "WHOIS alice")
        await alice.expect("MODE")
        assert "335" in {m.command for m in await alice.until("318")}
        await alice.send("WHOIS nobody")
        await alice.expect("401")
        await alice.send("LIST")
        listed = [m.params[1] for m in await alice.until("323") if m.command == "322"]
        assert "#lobby" in listed


async def test_announce_rooms_take_announcers_only(server: TestServer, port: int) -> None:
    admin = await server.client("root", group="admins")
    await admin.create("news", kind="announce")
    async with registered(port, "alice") as alice:
        await alice.send("JOIN #news", "MODE #news")
        modes = await alice.expect("324")
        assert modes.params[1:] == ("#news", "+mnt")
        await alice.send("PRIVMSG #news :hello?")
        refused: IrcMessage = await alice.expect(in_channel("404", "#news"))
        assert "announce" in refused.params[-1]


async def test_what_the_channel_docs_promise_besides(server: TestServer, port: int) -> None:
    carol = await server.client("carol")
    await carol.create("hideout", kind="private")
    await carol.request("invite", room="hideout", user="alice")
    caps = "extended-join invite-notify"
    async with registered(port, "alice", caps=caps) as alice:
        await alice.send("JOIN #Lobby")  # room ids are lower case: the same room
        joined_lobby = await alice.expect("JOIN")
        assert joined_lobby.params[0] == "#lobby"
        await alice.send("JOIN #hideout")
        await alice.expect(lambda m: m.command == "366" and "#hideout" in m.params)
        await alice.send("LIST")
        listed = [m.params[1] for m in await alice.until("323") if m.command == "322"]
        assert sorted(listed) == ["#hideout", "#lobby"]  # a private room, to its member
        async with registered(port, "bob") as bob:
            await bob.join("#lobby")
            joined = await alice.expect(
                lambda m: m.command == "JOIN" and (m.source or "").startswith("bob!")
            )
            assert joined.params == ("#lobby", "bob", "bob")  # the account, as real name
            await alice.send("INVITE bob #lobby")
            shown = await alice.expect("INVITE")
            assert shown.params == ("bob", "#lobby")
            await alice.send("WHO bob")
            who = [m for m in await alice.until("315") if m.command == "352"]
            assert [m.params[5] for m in who] == ["bob"]
        await alice.send("MODE #lobby +k secret")
        unknown = await alice.expect("472")
        assert unknown.params[1] == "k"
