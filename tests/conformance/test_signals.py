"""Read markers and presence over every transport."""

from __future__ import annotations

from homer.client import HomerClient
from homer.protocol.envelope import Envelope
from tests.conformance.conftest import Kit, next_matching


async def test_a_read_marker_moves_the_unread_count_on_every_device(kit: Kit) -> None:
    alice = await kit.client("alice")
    await alice.create("lobby")
    bob = await kit.client("bob")
    await bob.join("lobby")
    elsewhere = await kit.client("bob", over=kit.other)  # bob's other device
    acks = [await alice.send("lobby", f"m{i}") for i in range(3)]
    marked = await bob.read("lobby", acks[1]["seq"])
    assert marked == {"room": "lobby", "read": acks[1]["seq"], "unread": 1}
    for device in (bob, elsewhere):
        event = await next_matching(device, lambda e: e.op == "unread")
        assert event.room == "lobby"
        assert event.body == {"read": acks[1]["seq"], "unread": 1}
    rooms = (await elsewhere.request("rooms"))["rooms"]
    assert [(r["id"], r["read"], r["unread"]) for r in rooms] == [("lobby", acks[1]["seq"], 1)]


async def presence(client: HomerClient, of: str, status: str) -> Envelope:
    return await next_matching(
        client,
        lambda e: e.op == "presence" and e.sender == of and e.body == {"status": status},
    )


async def test_members_see_each_other_come_go_and_step_away(kit: Kit) -> None:
    alice = await kit.client("alice")
    await alice.create("lobby")
    bob = await kit.client("bob")
    await bob.join("lobby")
    seen = await presence(alice, "bob", "online")
    assert seen.room == "lobby"
    await bob.close()
    await presence(alice, "bob", "offline")
    back = await kit.client("bob")
    await presence(alice, "bob", "online")
    assert (await back.request("presence", status="away")) == {"status": "away"}
    await presence(alice, "bob", "away")
    # And alice, seen from bob's side.
    await alice.close()
    await presence(back, "alice", "offline")


async def test_typing_reaches_the_room(kit: Kit) -> None:
    alice = await kit.client("alice", over=kit.other)
    await alice.create("lobby")
    bob = await kit.client("bob")
    await bob.join("lobby")
    answer = await bob.request("typing", room="lobby")
    assert answer["room"] == "lobby"
    for member in (alice, bob):
        event = await next_matching(member, lambda e: e.op == "typing")
        assert (event.room, event.sender, event.body) == (
            "lobby",
            "bob",
            {"until": answer["until"]},
        )
