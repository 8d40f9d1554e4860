"""Delivery: once, in order, across drops and resumes; slow consumers never stall a room."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from homer.client import ClientError, HomerClient
from homer.config import HomerConfig
from homer.testing.broker_conformance import wait_until
from homer.testing.server import TestServer, replace_config, running_homer
from tests.server.rawws import RawWebSocket, RecordedWrites


def small_queue(config: HomerConfig) -> HomerConfig:
    """A small send queue, so that a stalled reader is found quickly; no rate limits."""
    unlimited = {"rate": 1e6, "burst": 1e6, "user_rate": 1e6, "user_burst": 1e6}
    return replace_config(config, limits={"send_queue": 64 * 1024, **unlimited})


async def collect(client: HomerClient, room: str, count: int) -> list[int]:
    """Sequence numbers of the next ``count`` chat messages the client sees in ``room``."""
    seqs: list[int] = []
    async with asyncio.timeout(30):
        while len(seqs) < count:
            event = await client.events.get()
            if event.op == "msg" and event.room == room and event.kind == "msg":
                seqs.append(event.seq or 0)
    return seqs


async def stalled_member(server: TestServer, room: str) -> RawWebSocket:
    """A member of ``room`` with a small receive buffer that stops reading."""
    stalled = await RawWebSocket.connect(
        server.running.host, server.running.port, receive_buffer=4096
    )
    await stalled.send_json({"op": "hello", "rid": 1, "token": await server.token("stalled")})
    await stalled.reply(1)
    await stalled.send_json({"op": "join", "rid": 2, "room": room})
    await stalled.reply(2)
    stalled.writer.transport.pause_reading()
    return stalled


async def send_until_one_is_too_slow(
    server: TestServer, sender: HomerClient, room: str
) -> list[dict[str, Any]]:
    """Send to ``room`` until a connection is closed as too slow; the acks."""
    slow = server.app.metrics.slow_consumers
    acks: list[dict[str, Any]] = []
    async with asyncio.timeout(60):
        while slow._value.get() < 1:
            acks += await asyncio.gather(*(sender.send(room, "x" * 7000) for _ in range(20)))
    return acks


async def test_each_subscriber_gets_each_message_once_in_order(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        sender = await server.client("sender")
        await sender.create("busy")
        readers = [await server.client(f"reader{i}") for i in range(5)]
        for reader in readers:
            await reader.join("busy")
        acks = await asyncio.gather(*(sender.send("busy", f"m{i}") for i in range(200)))
        seqs = sorted(a["seq"] for a in acks)
        assert len(set(seqs)) == 200
        for reader in readers:
            got = await collect(reader, "busy", 200)
            assert got == seqs


async def test_a_dropped_client_resumes_with_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        sender = await server.client("sender")
        await sender.create("live")
        reader = await server.client("reader", max_backoff=0.2)
        await reader.join("live")
        seen: list[int] = []

        async def read_all() -> None:
            async for event in reader:
                if event.op == "msg" and event.kind == "msg":
                    seen.append(event.seq or 0)

        consumer = asyncio.create_task(read_all())
        acked: list[int] = []
        for i in range(300):
            acked.append((await sender.send("live", f"m{i}"))["seq"])
            if i % 60 == 30:  # cut the reader's connection under traffic
                ws = reader._ws
                assert ws is not None
                transport = ws._response.connection.transport  # type: ignore[union-attr]
                assert transport is not None
                transport.abort()
        async with asyncio.timeout(20):
            while len(seen) < len(acked):  # noqa: ASYNC110 - polling a list another task fills
                await asyncio.sleep(0.05)
        consumer.cancel()
        assert seen == acked, "no gap, no duplicate, in order"
        assert reader.reconnects >= 4


async def test_resume_reports_what_it_cannot_recover(tmp_path: Path) -> None:
    def small_resume(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"resume_limit": 5})

    async with running_homer(tmp_path, configure=small_resume) as server:
        alice = await server.client("alice")
        room = await alice.create("lobby")
        epoch = room["epoch"]
        for i in range(12):
            await alice.send("lobby", f"m{i}")
        bob = await server.client("bob")
        await bob.join("lobby")
        ws = await RawWebSocket.connect(server.running.host, server.running.port)
        resume = {"lobby": {"epoch": epoch, "seq": 10}}
        await ws.send_json(
            {"op": "hello", "rid": 1, "token": await server.token("bob"), "resume": resume}
        )
        assert (await ws.reply(1))["op"] == "reply"
        resumed = await ws.json()
        assert resumed["op"] == "resumed"
        assert resumed["body"]["recovered"] is True
        replay = [await ws.json() for _ in range(resumed["body"]["count"])]
        assert [m["seq"] for m in replay] == [11, 12, 13]
        for position, reason in [
            ({"epoch": epoch, "seq": 2}, "too_far"),
            ({"epoch": epoch + 1, "seq": 12}, "epoch_changed"),
        ]:
            await ws.send_json({"op": "resume", "rid": 2, "rooms": {"lobby": position}})
            assert (await ws.reply(2))["op"] == "reply"
            answer = await ws.json()
            assert answer["op"] == "resumed"
            assert answer["body"]["recovered"] is False
            assert answer["body"]["reason"] == reason
            assert "history" in answer["body"]["hint"]


async def test_one_stalled_client_does_not_hold_up_a_room(tmp_path: Path) -> None:
    """While one member reads nothing, every send is acknowledged and every other
    member gets every message in order; the stalled one alone is closed. (How much
    a stalled reader costs the others in time is measured in bench/, ``stall``.)"""
    async with running_homer(tmp_path, configure=small_queue) as server:
        sender = await server.client("sender")
        await sender.create("big")
        members = [await server.client(f"m{i}") for i in range(20)]
        for member in members:
            await member.join("big")
        await stalled_member(server, "big")  # reads nothing from here on
        for member in members:
            while not member.events.empty():
                member.events.get_nowait()
        first = (await sender.request("rooms"))["rooms"][0]["last_seq"] + 1
        acks = await send_until_one_is_too_slow(server, sender, "big")
        count = len(acks)
        assert sorted(ack["seq"] for ack in acks) == list(range(first, first + count))
        for seqs in await asyncio.gather(*(collect(m, "big", count) for m in members)):
            assert seqs == list(range(first, first + count))
        assert server.app.metrics.slow_consumers._value.get() == 1
        # Nobody else was closed: every member still answers on the same connection.
        for member in members:
            await member.request("ping")


async def test_a_reader_that_never_reads_again_is_cut_without_a_close_frame(
    tmp_path: Path,
) -> None:
    """Its close frame waits behind what it does not read: after ``close_grace`` the
    socket is cut, and the client sees the stream end, no 4008 (as documented)."""

    def configure(config: HomerConfig) -> HomerConfig:
        return replace_config(small_queue(config), limits={"close_grace": 0.5})

    async with running_homer(tmp_path, configure=configure) as server:
        sender = await server.client("sender")
        await sender.create("firehose")
        stalled = await stalled_member(server, "firehose")
        await send_until_one_is_too_slow(server, sender, "firehose")
        # The grace passes while it still reads nothing; then its socket is gone.
        await wait_until(lambda: server.app.metrics.connections._value.get() == 1, within=60)
        stalled.writer.transport.resume_reading()
        with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
            await stalled.close_code()


async def test_a_consumer_that_falls_too_far_behind_is_closed(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=small_queue) as server:
        sender = await server.client("sender")
        await sender.create("firehose")
        stalled = await stalled_member(server, "firehose")
        await send_until_one_is_too_slow(server, sender, "firehose")
        stalled.writer.transport.resume_reading()
        assert await stalled.close_code() == 4008
        # The sender was never held up, and its messages are all stored.
        history = await sender.history("firehose", limit=1)
        assert history[-1].seq == (await sender.request("rooms"))["rooms"][0]["last_seq"]


async def test_purge_starts_a_new_epoch_and_resume_says_so(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        owner = await server.client("owner")
        room = await owner.create("scratch")
        reader = await server.client("reader")
        await reader.join("scratch")
        for i in range(3):
            await owner.send("scratch", f"m{i}")
        old_epoch = room["epoch"]
        purged = await owner.request("purge", room="scratch")
        assert purged["epoch"] == old_epoch + 1
        event = await reader.next_event("purged")
        assert event.body == {"epoch": old_epoch + 1, "last_seq": 4}
        assert reader.positions["scratch"].epoch == old_epoch + 1
        assert await owner.history("scratch") == []
        ws = await RawWebSocket.connect(server.running.host, server.running.port)
        stale = {"scratch": {"epoch": old_epoch, "seq": 4}}
        token = await server.token("reader")
        await ws.send_json({"op": "hello", "rid": 1, "token": token, "resume": stale})
        ahead = {"scratch": {"epoch": old_epoch + 1, "seq": 99}}
        await ws.send_json({"op": "resume", "rid": 2, "rooms": ahead})
        answers = []
        while len(answers) < 2:
            document = await ws.json()
            if document["op"] == "resumed":
                answers.append(document["body"])
        assert [a["reason"] for a in answers] == ["epoch_changed", "ahead"]
        assert all(a["recovered"] is False for a in answers)
        assert all(a["epoch"] == old_epoch + 1 for a in answers)
        member = await server.client("member")
        await member.join("scratch")
        with pytest.raises(ClientError) as caught:
            await member.request("purge", room="scratch")
        assert caught.value.wire_code == "forbidden"


async def test_resume_of_a_room_one_is_not_in_holds_nothing(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        room = await alice.create("lobby")
        with pytest.raises(ClientError) as caught:
            await alice.request(
                "resume",
                rooms={"lobby": {"epoch": room["epoch"], "seq": 0}, "nope": {"epoch": 1, "seq": 0}},
            )
        assert caught.value.wire_code == "not_found"
        bob = await server.client("bob")
        await bob.join("lobby")
        await bob.send("lobby", "still live for alice?")
        event = await alice.next_event("msg")
        while event.kind != "msg":
            event = await alice.next_event("msg")
        assert event.body["text"] == "still live for alice?"


async def test_the_client_fills_a_gap_by_resuming_and_keeps_order(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        sender = await server.client("sender")
        await sender.create("gappy")
        reader = await server.client("reader")
        await reader.join("gappy")
        first = await sender.send("gappy", "one")
        lost_seq = first["seq"] + 1
        dispatch = reader._dispatch
        dropped: list[int] = []

        def lossy(envelope):  # type: ignore[no-untyped-def]
            if envelope.op == "msg" and envelope.seq == lost_seq and not dropped:
                dropped.append(lost_seq)
                return None
            return dispatch(envelope)

        reader._dispatch = lossy  # type: ignore[method-assign]
        for text in ("two", "three", "four"):
            await sender.send("gappy", text)
        texts = []
        async with asyncio.timeout(10):
            while len(texts) < 4:
                event = await reader.next_event("msg")
                if event.kind == "msg":
                    texts.append((event.seq, event.body["text"]))
        assert dropped == [lost_seq]
        assert [t for _, t in texts] == ["one", "two", "three", "four"]
        assert [s for s, _ in texts] == list(range(first["seq"], first["seq"] + 4))
        assert reader.gaps == 1


async def test_a_senders_echo_and_ack_leave_in_one_write(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("pair")
        raw = await RawWebSocket.connect(server.running.host, server.running.port)
        await raw.send_json({"op": "hello", "rid": 1, "token": await server.token("bob")})
        assert (await raw.reply(1))["op"] == "reply"
        await raw.send_json({"op": "join", "rid": 2, "room": "pair"})
        assert (await raw.reply(2))["op"] == "reply"
        (peer,) = [p for p in server.app.peers if p.session and p.session.user.name == "bob"]
        spy = RecordedWrites(peer.transport)
        peer.transport = spy
        await raw.send_json({"op": "send", "rid": 3, "room": "pair", "cid": "c-1", "text": "hi"})
        echo = await raw.json()
        while echo["op"] != "msg":  # presence and the like may come first
            echo = await raw.json()
        ack = await raw.json()
        assert (echo["body"]["text"], echo["sender"]) == ("hi", "bob")
        assert (ack["op"], ack["rid"], ack["body"]["seq"]) == ("reply", 3, echo["seq"])
        together = [w for w in spy.writes if b'"rid":3' in w]
        assert len(together) == 1
        assert b'"text":"hi"' in together[0], "the echo went out with the ack"
        assert together[0].index(b'"text":"hi"') < together[0].index(b'"rid":3'), (
            "the echo and then the ack, in one write"
        )
        await raw.close()


async def test_a_joiners_joined_event_join_event_and_reply_leave_in_one_write(
    tmp_path: Path,
) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("plaza")
        raw = await RawWebSocket.connect(server.running.host, server.running.port)
        await raw.send_json({"op": "hello", "rid": 1, "token": await server.token("bob")})
        assert (await raw.reply(1))["op"] == "reply"
        (peer,) = [p for p in server.app.peers if p.session and p.session.user.name == "bob"]
        spy = RecordedWrites(peer.transport)
        peer.transport = spy
        await raw.send_json({"op": "join", "rid": 2, "room": "plaza"})
        seen: list[tuple[str, str | None]] = []
        while not seen or seen[-1][0] != "reply":
            event = await raw.json()
            seen.append((event["op"], event.get("kind")))
        assert [op for op, _ in seen[-3:]] == ["joined", "msg", "reply"]
        assert seen[-2][1] == "join"
        together = [w for w in spy.writes if b'"rid":2' in w]
        assert len(together) == 1, "the reply, and what came before it, in one write"
        write = together[0]
        joined, join, reply = (
            write.index(part) for part in (b'"op":"joined"', b'"kind":"join"', b'"rid":2')
        )
        assert joined < join < reply
        await raw.close()
