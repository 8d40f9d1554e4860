"""Rooms, DMs, invitations, moderation, broadcast, presence, typing, read markers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from homer.client import ClientError
from homer.testing.server import replace_config, running_homer


async def code_of(call: object) -> str:
    with pytest.raises(ClientError) as caught:
        await call  # type: ignore[misc]
    return caught.value.wire_code


async def test_private_rooms_take_an_invitation(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice, bob, carol = [await server.client(n) for n in ("alice", "bob", "carol")]
        await alice.create("secret", kind="private")
        # Answered as a room that does not exist: its existence is not told.
        assert await code_of(bob.join("secret")) == "not_found"
        assert await code_of(bob.history("secret")) == "not_found"
        assert await code_of(bob.send("secret", "let me in")) == "not_found"
        await alice.request("invite", room="secret", user="bob")
        invited = await bob.next_event("invited")
        assert invited.room == "secret"
        assert invited.sender == "alice"
        await bob.join("secret")
        assert await code_of(carol.join("secret")) == "not_found"
        directory = await carol.request("directory")
        assert "secret" not in [r["id"] for r in directory["rooms"]]


async def test_direct_messages_are_for_two(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice, bob, eve = [await server.client(n) for n in ("alice", "bob", "eve")]
        room = await alice.dm("bob")
        same = await bob.dm("ALICE")
        assert room["id"] == same["id"]
        assert room["kind"] == "dm"
        assert sorted(room["meta"]["users"]) == ["alice", "bob"]
        await alice.send(room["id"], "just us")
        event = await bob.next_event("msg")
        assert event.body["text"] == "just us"
        for call in (
            eve.join(room["id"]),
            eve.history(room["id"]),
            eve.send(room["id"], "hi"),
            alice.request("invite", room=room["id"], user="eve"),
        ):
            assert await code_of(call) in ("not_found", "forbidden", "invalid")
        mine = await bob.request("rooms")
        assert [r["id"] for r in mine["rooms"]] == [room["id"]]
        assert await code_of(alice.dm("alice")) == "invalid"
        assert await code_of(alice.dm("nobody")) == "not_found"


async def test_announce_rooms_need_the_permission(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        boss = await server.client("boss", group="admins")
        staff = await server.client("staff")
        await boss.create("news", kind="announce")
        await staff.join("news")
        assert await code_of(staff.send("news", "me too")) == "forbidden"
        await boss.send("news", "we ship on friday")
        event = await staff.next_event("msg")
        while event.kind != "msg":
            event = await staff.next_event("msg")
        assert event.body["text"] == "we ship on friday"


async def test_kick_ban_and_topic(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        owner, member, troll = [await server.client(n) for n in ("owner", "member", "troll")]
        await owner.create("hall")
        await member.join("hall")
        await troll.join("hall")
        assert await code_of(member.request("kick", room="hall", user="troll")) == "forbidden"
        assert await code_of(member.request("topic", room="hall", topic="mine")) == "forbidden"
        await owner.request("ban", room="hall", user="troll")
        left = await troll.next_event("left")
        assert left.body == {"reason": "ban"}
        assert await code_of(troll.join("hall")) == "forbidden"
        assert await code_of(troll.send("hall", "still here?")) == "forbidden"
        updated = await owner.request("topic", room="hall", topic="be nice")
        assert updated["topic"] == "be nice"
        kinds = [m.kind for m in await member.history("hall")]
        assert kinds == ["join", "join", "ban", "topic"]
        await owner.request("unban", room="hall", user="troll")
        await troll.join("hall")


async def test_broadcast_reaches_everyone_and_needs_the_permission(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        admin = await server.client("admin", group="admins")
        users = [await server.client(f"user{i}") for i in range(3)]
        assert await code_of(users[0].request("broadcast", text="spam")) == "forbidden"
        await admin.request("broadcast", text="maintenance at noon")
        for user in users:
            event = await user.next_event("broadcast")
            assert event.body == {"text": "maintenance at noon"}
            assert event.sender == "admin"


async def test_read_markers_and_unread_counts_follow_the_user(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        phone = await server.client("bob")
        laptop = await server.client("bob")
        await alice.create("lobby")
        await phone.join("lobby")
        for i in range(3):
            await alice.send("lobby", f"message {i}")
        mine = await laptop.request("rooms")
        lobby = next(r for r in mine["rooms"] if r["id"] == "lobby")
        assert lobby["unread"] == 3
        marker = await phone.read("lobby", lobby["last_seq"] - 1)
        assert marker == {
            "room": "lobby",
            "read": lobby["last_seq"] - 1,
            "unread": 1,
            "mentions": 0,
        }
        pushed = await laptop.next_event("unread")
        assert pushed.room == "lobby"
        assert pushed.body == {"read": lobby["last_seq"] - 1, "unread": 1, "mentions": 0}
        await phone.read("lobby", 0)  # never moves back
        assert (await laptop.request("rooms"))["rooms"][0]["read"] == lobby["last_seq"] - 1


async def test_presence_is_coalesced_and_typing_expires(tmp_path: Path) -> None:
    def fast_presence(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"presence_delay": 0.2, "typing_ttl": 2.0})

    async with running_homer(tmp_path, configure=fast_presence) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        bob = await server.client("bob")
        await bob.join("lobby")
        online = await alice.next_event("presence")
        while online.sender != "bob":
            online = await alice.next_event("presence")
        assert online.body == {"status": "online"}
        await bob.request("presence", status="away")
        away = await alice.next_event("presence")
        assert (away.sender, away.body) == ("bob", {"status": "away"})
        before = time.time()
        answer = await bob.request("typing", room="lobby")
        after = time.time()
        typing = await alice.next_event("typing")
        assert typing.sender == "bob"
        # The signal lasts typing_ttl from the request, and the event says the same.
        assert before + 2.0 <= answer["until"] <= after + 2.0
        assert typing.body["until"] == answer["until"]
        members = await alice.request("members", room="lobby")
        assert {m["name"]: m["status"] for m in members["members"]} == {
            "alice": "online",
            "bob": "away",
        }
        # A quick reconnect does not flash "offline".
        await bob.close()
        again = await server.client("bob")
        await asyncio.sleep(0.5)
        assert all(e.op != "presence" or e.body["status"] != "offline" for e in _drain(alice))
        await again.close()
        offline = await alice.next_event("presence")
        assert offline.body == {"status": "offline"}


def _drain(client):  # type: ignore[no-untyped-def]
    found = []
    while not client.events.empty():
        found.append(client.events.get_nowait())
    return found


async def test_presence_is_the_users_across_their_sessions(tmp_path: Path) -> None:
    def fast(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"presence_delay": 0.1})

    async with running_homer(tmp_path, configure=fast) as server:
        watcher = await server.client("watcher")
        await watcher.create("lobby")
        phone = await server.client("bob")
        await phone.join("lobby")
        laptop = await server.client("bob")

        async def status_of_bob() -> str:
            await asyncio.sleep(0.4)
            members = await watcher.request("members", room="lobby")
            return {m["name"]: m["status"] for m in members["members"]}["bob"]

        assert await status_of_bob() == "online"
        await phone.request("presence", status="away")
        assert await status_of_bob() == "online", "the laptop is still there"
        await laptop.request("presence", status="away")
        assert await status_of_bob() == "away"
        await laptop.request("presence", status="online")
        assert await status_of_bob() == "online"
        await laptop.close()
        assert await status_of_bob() == "away", "only the phone is left, and it is away"
        await phone.close()
        assert await status_of_bob() == "offline"
        with pytest.raises(ClientError):
            await watcher.request("presence", status="invisible")
