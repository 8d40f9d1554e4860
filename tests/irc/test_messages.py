"""Talking over IRC: channel messages and direct messages both ways with Homer's
other clients, echoes and labels, long messages, changes to messages, typing,
presence, and the refusals."""

from __future__ import annotations

import pytest

from homer.testing.server import TestServer, replace_config, running_homer
from homer.testing.transport_conformance import next_matching, next_message
from tests.irc.conftest import with_irc
from tests.irc.lines import registered


async def _in_lobby(server: TestServer) -> object:
    bob = await server.client("bob")
    await bob.join("lobby")
    return bob


async def test_channel_messages_both_ways(server: TestServer, port: int) -> None:
    bob = await server.client("bob")
    await bob.create("lobby")
    async with registered(port, "alice", caps="server-time message-tags account-tag") as alice:
        await alice.join("#lobby")
        await alice.send("PRIVMSG #lobby :hello from irc")
        event = await next_message(bob, "lobby")
        assert (event.sender, event.body["text"]) == ("alice", "hello from irc")
        assert not [line for line in await alice.quiet() if "PRIVMSG" in line]  # no echo
        ack = await bob.send("lobby", "hello from the web")
        said = await alice.expect("PRIVMSG")
        assert said.source == "bob!bob@homer"
        assert said.params == ("#lobby", "hello from the web")
        tags = said.tags or {}
        assert tags["msgid"] == f"lobby:{ack['seq']}"
        assert tags["account"] == "bob"


async def test_echo_message_and_labels(server: TestServer, port: int) -> None:
    caps = "echo-message labeled-response batch message-tags"
    async with registered(port, "alice", caps=caps) as alice:
        await alice.join("#lobby")
        await alice.send("@label=one PRIVMSG #lobby :echoed")
        echo = await alice.expect("PRIVMSG")
        assert (echo.tags or {})["label"] == "one"
        assert echo.params == ("#lobby", "echoed")
        await alice.send("@label=two PING x", "@label=three MODE alice")
        pong = await alice.expect("PONG")
        assert (pong.tags or {})["label"] == "two"
        umode = await alice.expect("221")
        assert (umode.tags or {})["label"] == "three"
        await alice.send("@label=four PONG x")
        ack = await alice.expect("ACK")
        assert (ack.tags or {})["label"] == "four"
        await alice.send("@label=five TOPIC #lobby :t")
        got = {m.command: m for m in [await alice.expect(lambda m: True) for _ in range(2)]}
        assert (got["ACK"].tags or {})["label"] == "five"
        assert got["TOPIC"].params == ("#lobby", "t")


async def test_direct_messages_both_ways(server: TestServer, port: int) -> None:
    bob = await server.client("bob")
    async with registered(port, "alice") as alice:
        await alice.send("PRIVMSG Bob :psst")
        joined = await bob.next_event("joined")
        event = await bob.next_event("msg")
        assert event.room == joined.room
        assert (event.sender, event.body["text"]) == ("alice", "psst")
        await bob.send(joined.room or "", "what?")
        said = await alice.expect("PRIVMSG")
        assert said.source == "bob!bob@homer"
        assert said.params == ("alice", "what?")
        await alice.send("PRIVMSG nobody :hi")
        await alice.expect("401")


async def test_notice_and_action_keep_their_form(server: TestServer, port: int) -> None:
    async with registered(port, "alice") as alice, registered(port, "bob") as bob:
        for client in (alice, bob):
            await client.join("#lobby")
        await alice.send("NOTICE #lobby :just so you know", "PRIVMSG #lobby :\x01ACTION waves\x01")
        notice = await bob.expect("NOTICE")
        assert notice.params == ("#lobby", "just so you know")
        action = await bob.expect("PRIVMSG")
        assert action.params == ("#lobby", "\x01ACTION waves\x01")
        await alice.send("NOTICE #nowhere :quiet")
        assert not [line for line in await alice.quiet() if " 404 " in line]


async def test_long_and_multiline_messages(server: TestServer, port: int) -> None:
    bob = await server.client("bob")
    await bob.create("lobby")
    text = "first line\n" + "word " * 300
    async with (
        registered(port, "alice") as plain,
        registered(port, "carol", caps="batch draft/multiline") as batched,
    ):
        for client in (plain, batched):
            await client.join("#lobby")
        await bob.send("lobby", text)
        lines = [await plain.expect("PRIVMSG")]
        while sum(len(line.params[1].split()) for line in lines) < len(text.split()):
            lines.append(await plain.expect("PRIVMSG"))
        assert len(lines) == 5
        assert all(len(line.params[1].encode()) < 480 for line in lines)
        assert " ".join(line.params[1] for line in lines).split() == text.split()
        await batched.expect("BATCH")
        inside = [m for m in await batched.until("BATCH") if m.command == "PRIVMSG"]
        assert " ".join(m.params[1] for m in inside).split() == text.split()


async def test_edits_redactions_and_reactions(server: TestServer, port: int) -> None:
    bob = await server.client("bob")
    await bob.create("lobby")
    async with (
        registered(port, "alice") as plain,
        registered(port, "carol", caps="message-tags draft/message-redaction") as rich,
    ):
        for client in (plain, rich):
            await client.join("#lobby")
        ack = await bob.send("lobby", "typo")
        seq = ack["seq"]
        await bob.edit("lobby", seq, "fixed")
        await bob.react("lobby", seq, "👍")
        await bob.redact("lobby", seq)
        await plain.expect("PRIVMSG")
        notices = [(await plain.expect("NOTICE")).params[1] for _ in range(3)]
        assert notices == [
            f"(edited lobby:{seq}) fixed",
            f"(reacted 👍 to lobby:{seq})",
            f"(deleted lobby:{seq})",
        ]
        await rich.expect("PRIVMSG")
        edited = await rich.expect("NOTICE")
        assert (edited.tags or {})["msgid"] == f"lobby:{seq + 1}"
        react = await rich.expect("TAGMSG")
        assert (react.tags or {})["+draft/react"] == "👍"
        assert (react.tags or {})["+draft/reply"] == f"lobby:{seq}"
        redact = await rich.expect("REDACT")
        assert redact.params == ("#lobby", f"lobby:{seq}")
        # And from IRC: a reaction, then a redaction of one's own message.
        await rich.send("PRIVMSG #lobby :mine")
        event = await next_matching(bob, lambda e: (e.body or {}).get("text") == "mine")
        await rich.send(f"@+draft/react=🎉;+draft/reply=lobby:{event.seq} TAGMSG #lobby")
        reacted = await bob.next_event("msg")
        assert reacted.kind == "react"
        await rich.send(f"REDACT #lobby lobby:{event.seq} :oops")
        redacted = await bob.next_event("msg")
        assert redacted.kind == "redact"
        assert redacted.body["reason"] == "oops"
        await rich.send(f"REDACT #lobby lobby:{seq + 99}")
        fail = await rich.expect("FAIL")
        assert fail.params[:2] == ("REDACT", "UNKNOWN_MSGID")


async def test_typing_both_ways(server: TestServer, port: int) -> None:
    bob = await server.client("bob")
    await bob.create("lobby")
    async with registered(port, "alice", caps="message-tags") as alice:
        await alice.join("#lobby")
        await alice.send("@+typing=active TAGMSG #lobby")
        typing = await bob.next_event("typing")
        assert typing.sender == "alice"
        await bob.request("typing", room="lobby")
        shown = await alice.expect("TAGMSG")
        assert shown.source == "bob!bob@homer"
        assert (shown.tags or {})["+typing"] == "active"


async def test_away_presence_and_monitor(server: TestServer, port: int) -> None:
    web = await server.client("bob")
    await web.create("lobby")
    await web.close()
    async with registered(port, "alice", caps="away-notify") as alice:
        await alice.join("#lobby")
        await alice.send("MONITOR + bob,nobody")
        offline = await alice.expect("731")
        assert offline.params[1] == "bob,nobody"
        async with registered(port, "bob") as bob:
            online = await alice.expect("730")
            assert online.params[1] == "bob!bob@homer"
            await bob.join("#lobby")
            await bob.send("AWAY :lunch")
            await bob.expect("306")
            away = await alice.expect("AWAY")
            assert away.source == "bob!bob@homer"
            assert away.params == ("away",)
            await bob.send("AWAY")
            await bob.expect("305")
            back = await alice.expect("AWAY")
            assert back.params == ()
        gone = await alice.expect("731")
        assert gone.params[1] == "bob"


async def test_bad_lines_cost_only_themselves(port: int) -> None:
    async with registered(port, "alice") as alice:
        alice.writer.write(b"PRIVMSG #lobby :" + b"x" * 600 + b"\r\n")
        alice.writer.write(b"PRIVMSG #lobby :\xff\xfe\r\n")
        alice.writer.write(b"@bad key=1 PING\r\n")
        await alice.send("TELEPORT now", "PING still-here")
        too_long = await alice.expect("417")
        assert too_long.params[0] == "alice"
        utf8 = await alice.expect("FAIL")
        assert utf8.params[:2] == ("*", "INVALID_UTF8")
        await alice.expect("FAIL")
        unknown = await alice.expect("421")
        assert unknown.params[1] == "TELEPORT"
        pong = await alice.expect("PONG")
        assert pong.params[-1] == "still-here"


async def test_rate_limits_answer_263(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def strict(config):  # type: ignore[no-untyped-def]
        return replace_config(with_irc(config), limits={"rate": 1.0, "burst": 3})

    async with running_homer(tmp_path, configure=strict) as server:
        await server.user("alice")
        assert server.irc_port is not None
        async with registered(server.irc_port, "alice") as alice:
            await alice.join("#lobby")
            await alice.send(*[f"PRIVMSG #lobby :{n}" for n in range(6)])
            limited = await alice.expect("263")
            assert limited.params[1] == "PRIVMSG"


async def test_a_multiline_batch_from_irc_is_one_message(server: TestServer, port: int) -> None:
    bob = await server.client("bob")
    await bob.create("lobby")
    async with registered(port, "alice", caps="batch draft/multiline message-tags") as alice:
        await alice.join("#lobby")
        await alice.send(
            "BATCH +m1 draft/multiline #lobby",
            "@batch=m1 PRIVMSG #lobby :first line",
            "@batch=m1 PRIVMSG #lobby :second ",
            "@batch=m1;draft/multiline-concat PRIVMSG #lobby :line, joined",
            "BATCH -m1",
        )
        event = await next_message(bob, "lobby")
        assert event.body["text"] == "first line\nsecond line, joined"
        big = "x" * 400
        await alice.send(
            "BATCH +m2 draft/multiline #lobby",
            *[f"@batch=m2 PRIVMSG #lobby :{big}" for _ in range(25)],
            "BATCH -m2",
            "BATCH -nothing",
        )
        too_big = await alice.expect("FAIL")
        assert too_big.params[:3] == ("BATCH", "MULTILINE_MAX_BYTES", "8000")
        no_batch = await alice.expect("FAIL")
        assert no_batch.params[:2] == ("BATCH", "INVALID_BATCH")
        with pytest.raises(TimeoutError):  # the refused batch was not sent in part
            await bob.next_event("msg", timeout=0.5)


async def test_a_clients_odd_value_never_splits_an_answer(port: int) -> None:
    async with registered(port, "alice") as alice:
        await alice.send("MARKREAD :#a b", "MARKREAD ::x", "REDACT #nope :a b c", "JOIN :#a b")
        for command in ("MARKREAD", "MARKREAD", "REDACT"):
            fail = await alice.expect("FAIL")
            assert fail.params[0] == command
            assert len(fail.params) == (4 if command == "MARKREAD" else 5)
            assert "*" in fail.params
        refused = await alice.expect("403")
        assert refused.params[:2] == ("alice", "*")
        assert len(refused.params) == 3
