"""Messages over every transport: send, ack and delivery, idempotent resends,
history, and resuming after a dropped connection."""

from __future__ import annotations

import asyncio

import pytest

from homer.client import ClientError
from homer.protocol.envelope import Envelope
from tests.conformance.conftest import Kit, next_matching, next_message, until


async def test_a_message_is_acked_and_delivered_to_every_member(kit: Kit) -> None:
    alice = await kit.client("alice")
    bob = await kit.client("bob")
    carol = await kit.client("carol", over=kit.other)
    await alice.create("lobby")
    await bob.join("lobby")
    await carol.join("lobby")
    ack = await alice.send("lobby", "hello", data={"n": 1})
    assert ack["room"] == "lobby"
    assert ack["duplicate"] is False
    for member in (alice, bob, carol):
        event = await next_message(member, "lobby")
        assert (event.seq, event.id, event.cid, event.sender) == (
            ack["seq"],
            ack["id"],
            ack["cid"],
            "alice",
        )
        assert event.body == {"text": "hello", "data": {"n": 1}}
    # And back, from the member on the other transport.
    answer = await carol.send("lobby", "hi alice")
    for member in (alice, bob):
        event = await next_message(member, "lobby")
        assert (event.seq, event.sender, event.body["text"]) == (
            answer["seq"],
            "carol",
            "hi alice",
        )


async def test_a_resend_with_the_same_cid_gets_the_first_ack(kit: Kit) -> None:
    alice = await kit.client("alice")
    bob = await kit.client("bob")
    await alice.create("lobby")
    await bob.join("lobby")
    first = await alice.send("lobby", "once", cid="c-1")
    again = await alice.send("lobby", "once", cid="c-1")
    assert again["duplicate"] is True
    assert (again["seq"], again["id"]) == (first["seq"], first["id"])
    after = await alice.send("lobby", "next")
    seen = [await next_message(bob, "lobby") for _ in range(2)]
    assert [e.cid for e in seen] == ["c-1", after["cid"]]
    history = await bob.history("lobby")
    assert [m.cid for m in history if m.kind == "msg"] == ["c-1", after["cid"]]


async def test_history_by_seq_and_by_time(kit: Kit) -> None:
    alice = await kit.client("alice")
    await alice.create("lobby")
    bob = await kit.client("bob")
    await bob.join("lobby")
    acks = [await alice.send("lobby", f"m{i}") for i in range(6)]
    seqs = [ack["seq"] for ack in acks]

    def texts(messages: list[object]) -> list[str]:
        return [m.body["text"] for m in messages]  # type: ignore[attr-defined]

    newer = await bob.history("lobby", after=seqs[1], limit=2)
    assert [m.seq for m in newer] == seqs[2:4]
    assert texts(newer) == ["m2", "m3"]
    older = await bob.history("lobby", before=seqs[3], limit=2)
    assert [m.seq for m in older] == seqs[1:3]
    window = await bob.history("lobby", since=acks[2]["ts"], until=acks[4]["ts"])
    assert texts(window) == ["m2", "m3"]
    # Only until: the newest page before it (older ones are "more"), as before= does.
    latest = await bob.request("history", room="lobby", until=acks[4]["ts"], limit=2)
    assert [m["body"]["text"] for m in latest["messages"]] == ["m2", "m3"]
    assert latest["more"] is True
    rest = await bob.http("GET", f"/api/rooms/lobby/messages?until={acks[4]['ts']!r}&limit=2")
    assert rest["messages"] == latest["messages"]
    assert rest["more"] is True
    page = await bob.request("history", room="lobby", after=seqs[1], limit=2)
    assert page["more"] is True
    assert page["last_seq"] == seqs[-1]
    with pytest.raises(ClientError) as refused:
        await bob.history("lobby", after=seqs[0], since=acks[0]["ts"])
    assert refused.value.wire_code == "invalid"


async def test_a_dropped_client_resumes_with_no_gap_and_no_duplicate(kit: Kit) -> None:
    alice = await kit.client("alice", over=kit.other)
    bob = await kit.client("bob")
    await alice.create("lobby")
    await bob.join("lobby")
    before = [await alice.send("lobby", f"before {i}") for i in range(3)]
    for ack in before:
        assert (await next_message(bob, "lobby")).seq == ack["seq"]
    cut = bob.transport
    assert cut is not None
    cut.abort()
    await until(lambda: bob.transport is not cut)  # bob noticed: he is away
    # bob sends while away: the send goes out once he is back.
    sending = asyncio.create_task(bob.send("lobby", "sent while cut", cid="while-cut"))
    during = [await alice.send("lobby", f"during {i}") for i in range(5)]
    mine = await asyncio.wait_for(sending, 5)
    assert mine["cid"] == "while-cut"
    marker = await alice.send("lobby", "after")
    events: list[Envelope] = []
    while not events or events[-1].cid != marker["cid"]:
        events.append(await next_matching(bob, lambda e: e.room in ("lobby", None)))
    assert [e.op for e in events].count("reconnected") == 1
    resumed = [e.body for e in events if e.op == "resumed"]
    assert len(resumed) == 1
    assert resumed[0]["recovered"] is True
    assert resumed[0]["from"] == before[-1]["seq"] + 1, "resumed from where bob was cut off"
    seen = [e for e in events if e.op == "msg" and e.kind == "msg"]
    from_alice = [e.seq for e in seen if e.sender == "alice"]
    assert from_alice == [a["seq"] for a in during] + [marker["seq"]], "no gap, no duplicate"
    assert [e.seq for e in seen] == sorted({e.seq for e in seen}), "in order, each once"
    assert [e.cid for e in seen if e.sender == "bob"] == ["while-cut"]
    assert bob.reconnects == 1
    history = await alice.history("lobby")
    assert [m.cid for m in history].count("while-cut") == 1


async def test_a_send_cut_off_before_its_ack_is_stored_once(kit: Kit) -> None:
    alice = await kit.client("alice", over=kit.other)
    bob = await kit.client("bob")
    await alice.create("lobby")
    await bob.join("lobby")
    cut = bob.transport
    assert cut is not None
    sending = asyncio.create_task(bob.send("lobby", "in flight", cid="in-flight"))
    await asyncio.sleep(0)  # the request is on its way, or about to be
    cut.abort()
    ack = await asyncio.wait_for(sending, 5)
    assert ack["cid"] == "in-flight"
    event = await next_message(alice, "lobby")
    assert (event.cid, event.seq) == ("in-flight", ack["seq"])
    history = await alice.history("lobby")
    assert [m.cid for m in history].count("in-flight") == 1


async def test_a_gap_in_sequence_numbers_is_filled_from_history(kit: Kit) -> None:
    alice = await kit.client("alice", over=kit.other)
    bob = await kit.client("bob")
    await alice.create("gappy")
    await bob.join("gappy")
    first = await alice.send("gappy", "one")
    lost = first["seq"] + 1
    dispatch = bob._dispatch
    dropped: list[int] = []

    def lossy(envelope: Envelope) -> None:  # loses one message on its way in
        if envelope.op == "msg" and envelope.seq == lost and not dropped:
            dropped.append(lost)
            return
        dispatch(envelope)

    bob._dispatch = lossy  # type: ignore[method-assign]
    for text in ("two", "three", "four"):
        await alice.send("gappy", text)
    seen = [await next_message(bob, "gappy") for _ in range(4)]
    assert dropped == [lost]
    assert [e.body["text"] for e in seen] == ["one", "two", "three", "four"]
    assert [e.seq for e in seen] == list(range(first["seq"], first["seq"] + 4))
    assert bob.gaps == 1
    assert bob.reconnects == 0
