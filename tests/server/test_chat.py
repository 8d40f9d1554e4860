"""End to end over real sockets: two people chatting, and everything around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from homer.client import ClientError
from homer.testing.server import running_homer


async def test_two_people_chat(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        bob = await server.client("bob")
        room = await alice.create("lobby", topic="general chat")
        assert room["id"] == "lobby"
        assert room["role"] == "owner"
        joined = await bob.join("lobby")
        assert joined["kind"] == "public"
        ack = await alice.send("lobby", "hello bob", {"mood": "cheerful"})
        assert ack["room"] == "lobby"
        assert ack["seq"] == 2  # 1 is bob's join
        assert ack["duplicate"] is False
        event = await bob.next_event("msg")
        while event.kind != "msg":
            event = await bob.next_event("msg")
        assert (event.sender, event.seq, event.cid) == ("alice", 2, ack["cid"])
        assert event.body == {"text": "hello bob", "data": {"mood": "cheerful"}}
        again = await alice.send("lobby", "hello bob", cid=ack["cid"])
        assert again["seq"] == ack["seq"]
        assert again["duplicate"] is True
        history = await bob.history("lobby")
        assert [(m.kind, m.seq) for m in history] == [("join", 1), ("msg", 2)]


async def test_errors_name_their_cause(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        with pytest.raises(ClientError) as caught:
            await alice.request("frobnicate")
        assert caught.value.wire_code == "unknown_op"
        with pytest.raises(ClientError) as caught:
            await alice.send("nowhere", "hi")
        assert caught.value.wire_code == "not_found"
        with pytest.raises(ClientError) as caught:
            await alice.request("send", room="x")
        assert caught.value.wire_code == "invalid"
        assert "cid" in str(caught.value)
